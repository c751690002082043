//! The GCRA budgets of [`super::gcra`] kept in Redis, so that every Alice on the same Redis
//! counts a key against one budget. One Lua script does the same arithmetic atomically, with
//! Redis's own clock (so the instances' clocks do not matter), and returns how far the
//! budget's arrival time is ahead of now.

use super::PERIOD;
use super::gcra::{Decision, emission_interval};
use redis::aio::MultiplexedConnection;
use std::time::Duration;

/// KEYS[1]: the budget. ARGV: emission interval (µs), period (µs), cost, mode ("take" or
/// "charge"). Returns {allowed (0/1), the arrival time ahead of now after the spend or, when
/// refused, before it (µs), what a refused spend needs it to be (µs)}.
const SCRIPT: &str = r#"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local interval = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
local start = math.max(tat, now)
local wanted = start + interval * cost
local function keep(at)
    redis.call('SET', KEYS[1], string.format('%d', at), 'PX', math.ceil((at - now) / 1000) + 1000)
end
if ARGV[4] == 'charge' then
    wanted = math.min(wanted, now + 2 * period)
    keep(wanted)
    return {1, wanted - now, wanted - now}
end
local fits = (cost == 0 and wanted - now < period) or (cost > 0 and wanted - now <= period)
if fits then
    if cost > 0 then
        keep(wanted)
    end
    return {1, wanted - now, wanted - now}
end
if cost == 0 then
    return {0, start - now, wanted - now + interval}
end
return {0, start - now, wanted - now}
"#;

/// Budgets in Redis under a key prefix.
pub struct RedisBudgets {
    client: redis::Client,
    prefix: String,
    timeout: Duration,
    script: redis::Script,
    connection: tokio::sync::Mutex<Option<MultiplexedConnection>>,
}

impl RedisBudgets {
    /// Budgets at `url`, under `prefix`, each call given up after `timeout`.
    pub fn new(url: &str, prefix: &str, timeout: Duration) -> Result<Self, redis::RedisError> {
        Ok(Self {
            client: redis::Client::open(url)?,
            prefix: prefix.to_owned(),
            timeout,
            script: redis::Script::new(SCRIPT),
            connection: tokio::sync::Mutex::new(None),
        })
    }

    pub(super) async fn take(
        &self,
        key: &str,
        limit: u32,
        cost: u32,
    ) -> Result<Decision, redis::RedisError> {
        let (allowed, ahead, wanted) = self.run(key, limit, cost, "take").await?;
        Ok(Decision::from_ahead(allowed, limit, ahead, wanted))
    }

    pub(super) async fn charge(
        &self,
        key: &str,
        limit: u32,
        cost: u32,
    ) -> Result<(), redis::RedisError> {
        self.run(key, limit, cost, "charge").await.map(|_| ())
    }

    async fn run(
        &self,
        key: &str,
        limit: u32,
        cost: u32,
        mode: &str,
    ) -> Result<(bool, Duration, Duration), redis::RedisError> {
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let call = async {
            let mut connection = self.connection().await?;
            let (allowed, ahead, wanted): (i64, i64, i64) = self
                .script
                .key(format!("{}:{key}", self.prefix))
                .arg(micros(emission_interval(limit)))
                .arg(micros(PERIOD))
                .arg(cost)
                .arg(mode)
                .invoke_async(&mut connection)
                .await?;
            let span = |us: i64| Duration::from_micros(u64::try_from(us).unwrap_or(0));
            Ok((allowed == 1, span(ahead), span(wanted)))
        };
        let outcome = match tokio::time::timeout(self.timeout, call).await {
            Ok(outcome) => outcome,
            Err(_) => Err(redis::RedisError::from((
                redis::ErrorKind::Io,
                "Redis did not answer within cache.redis_timeout",
            ))),
        };
        if outcome.is_err() {
            // Connect again next time.
            *self.connection.lock().await = None;
        }
        outcome
    }

    async fn connection(&self) -> Result<MultiplexedConnection, redis::RedisError> {
        let mut kept = self.connection.lock().await;
        if let Some(connection) = kept.as_ref() {
            return Ok(connection.clone());
        }
        let connection = self.client.get_multiplexed_async_connection().await?;
        *kept = Some(connection.clone());
        Ok(connection)
    }
}
