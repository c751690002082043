//! What checking a key costs a request: `Directory::authenticate_key` for a key verified a
//! moment ago (the cache hit every request after the first pays: a map lookup, one SHA-256,
//! a constant-time comparison), and the first check of a key (a SQLite query as well).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use alice_core::config::{AuthConfig, DatabaseConfig};
use alice_identity::{Directory, KeyRequest, Role};
use criterion::{Criterion, criterion_group, criterion_main};
use std::time::Duration;

fn authenticate(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let database = DatabaseConfig {
        url: format!("sqlite://{}/alice.db", dir.path().display()),
        ..DatabaseConfig::default()
    };
    let (store, cached, uncached, key) = runtime.block_on(async {
        let store = alice_store::Store::open(&database).await.unwrap();
        let cached = Directory::new(store.identity(), &AuthConfig::default());
        let uncached = Directory::new(
            store.identity(),
            &AuthConfig {
                key_cache_ttl: Duration::ZERO,
                ..AuthConfig::default()
            },
        );
        cached.add_user("anna", None, Role::User).await.unwrap();
        let key = cached
            .create_key("anna", KeyRequest::default())
            .await
            .unwrap()
            .key;
        (store, cached, uncached, key)
    });
    c.bench_function("authenticate_key, verified before (cache hit)", |b| {
        b.to_async(&runtime)
            .iter(|| async { cached.authenticate_key(&key).await.unwrap() });
    });
    c.bench_function("authenticate_key, first check (SQLite query)", |b| {
        b.to_async(&runtime)
            .iter(|| async { uncached.authenticate_key(&key).await.unwrap() });
    });
    runtime.block_on(store.close());
}

criterion_group!(benches, authenticate);
criterion_main!(benches);
