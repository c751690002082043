//! The Redis-kept budgets over a real Redis (ALICE_TEST_REDIS_URL): two limiters, as two Alice
//! instances would hold, count one key against one budget; without Redis a limiter counts
//! alone, and a Redis that does not answer falls back to counting in-process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use alice_core::config::Limits;
use alice_identity::limits::{Limiter, RedisBudgets, Refusal};
use alice_identity::{Caller, Credential, Role};
use std::time::Duration;

fn caller(key: &str, limits: Limits) -> Caller {
    Caller {
        username: "anna".into(),
        role: Role::User,
        credential: Credential::ApiKey { id: key.into() },
        limits,
        priority: alice_core::Priority::Interactive,
    }
}

fn requests(per_minute: u32) -> Limits {
    Limits {
        requests_per_minute: per_minute,
        tokens_per_minute: 0,
        max_in_flight: 0,
    }
}

fn unique_prefix() -> String {
    format!("alice-test:limits:{}", uuid_like())
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{}-{nanos}", std::process::id())
}

#[tokio::test]
async fn two_instances_on_one_redis_share_a_keys_budget() {
    let Ok(url) = std::env::var("ALICE_TEST_REDIS_URL") else {
        eprintln!(
            "skipped two_instances_on_one_redis_share_a_keys_budget: ALICE_TEST_REDIS_URL is not set"
        );
        return;
    };
    let prefix = unique_prefix();
    let redis = || RedisBudgets::new(&url, &prefix, Duration::from_secs(2)).unwrap();
    let (first, second) = (Limiter::new(Some(redis())), Limiter::new(Some(redis())));
    let anna = caller("k1", requests(4));
    for limiter in [&first, &second, &first, &second] {
        let admitted = limiter.admit(&anna).await.expect("within the budget");
        assert!(admitted.requests.is_some());
    }
    match second.admit(&anna).await {
        Err(Refusal::Requests(decision)) => {
            assert_eq!(decision.remaining, 0);
            assert!(
                decision.retry_after > Duration::ZERO
                    && decision.retry_after <= Duration::from_secs(15)
            );
        }
        other => panic!("the fifth request of four per minute, on either instance: {other:?}"),
    }
    // Another key has its own budget.
    assert!(first.admit(&caller("k2", requests(4))).await.is_ok());

    // Tokens charged on one instance are seen by the other.
    let tokens = caller(
        "k3",
        Limits {
            requests_per_minute: 0,
            tokens_per_minute: 100,
            max_in_flight: 0,
        },
    );
    assert!(second.admit(&tokens).await.is_ok());
    first.charge_tokens(&tokens, 150).await;
    assert!(matches!(
        second.admit(&tokens).await,
        Err(Refusal::Tokens(_))
    ));
}

#[tokio::test]
async fn without_redis_or_when_it_does_not_answer_each_limiter_counts_alone() {
    // Nothing listens on port 1: every call fails at once, and the limiter counts in-process.
    let dead = RedisBudgets::new(
        "redis://127.0.0.1:1",
        "alice-test",
        Duration::from_millis(200),
    )
    .unwrap();
    for limiter in [Limiter::new(None), Limiter::new(Some(dead))] {
        let anna = caller("k1", requests(2));
        assert!(limiter.admit(&anna).await.is_ok());
        assert!(limiter.admit(&anna).await.is_ok());
        assert!(matches!(
            limiter.admit(&anna).await,
            Err(Refusal::Requests(_))
        ));
    }
}

#[tokio::test]
async fn requests_in_flight_are_capped_and_given_back() {
    let limiter = Limiter::new(None);
    let anna = caller(
        "k1",
        Limits {
            requests_per_minute: 0,
            tokens_per_minute: 0,
            max_in_flight: 2,
        },
    );
    let one = limiter.admit(&anna).await.unwrap();
    let _two = limiter.admit(&anna).await.unwrap();
    assert_eq!(
        limiter.admit(&anna).await.err(),
        Some(Refusal::InFlight { limit: 2 })
    );
    drop(one);
    assert!(limiter.admit(&anna).await.is_ok());
}
