//! Bounded concurrency per backend, with a bounded, timed and fair queue in front of it.
//!
//! A model server slows down for everyone when it takes more work than it has slots for (Ollama
//! queues internally, then answers 503). Alice keeps its own count: at most `max_concurrent`
//! requests go to a backend at once; up to `queue_depth` more wait. A request is refused *at
//! once* rather than left waiting when the queue is full, or when the wait it can expect (how
//! long slots are held, on average, times the number of requests that will be served before
//! it) would pass its deadline or `queue_timeout`. Refused requests fail over to the next
//! backend or get 503 with Retry-After.
//!
//! The queue is fair between clients (the user a request is for; [`crate::ChatRequest`]'s
//! `client`): each client waits in a queue of its own, and a freed slot goes to the clients in
//! turn (round robin), first come first served within one client. So one client that sends 40
//! requests at once does not make another client's single request wait behind all 40: it is
//! served at the second slot that comes free. A client's place, for the expected wait, is
//! counted the same way.
//!
//! While others wait, one client holds at most `max_share_per_client` of the limit (rounded up,
//! at least one slot): a freed slot goes past a client at its share to the next one below it.
//! With nobody else waiting a client may use every slot, so no slot is left idle.
//!
//! Requests come in two priority classes (the caller's key says which): a freed slot goes to a
//! waiting interactive request before any batch one, and batch requests take turns among
//! themselves in the slots interactive ones leave. A batch request's place counts every
//! interactive request waiting.
//!
//! With adaptive concurrency on, the limit itself moves (AIMD): after every `sample_size`
//! completed answers, one slot more if their p95 was within `target_p95`, a quarter fewer (at
//! least one) if not, always between `min` and `max`. A lower limit takes effect as slots come
//! back: no running answer is cut.

use alice_core::Priority;
use alice_core::config::AdaptiveConcurrencyConfig;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// Weight of the newest sample in the moving average of slot hold times.
const HOLD_TIME_WEIGHT: f64 = 0.2;

/// Why a request was not given a slot. `place` is how many requests would have been served
/// before it, itself included (its place in the fair queue); `expected` the wait that place
/// meant, once slot hold times are known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `queue_depth` requests are already waiting.
    QueueFull {
        place: usize,
        expected: Option<Duration>,
    },
    /// The expected wait would pass the deadline or `queue_timeout`.
    WaitTooLong { place: usize, expected: Duration },
    /// It waited `queue_timeout` (or to its deadline) without getting a slot.
    TimedOut,
}

/// The concurrency limit and queue of one backend.
#[derive(Debug)]
pub struct Limiter {
    queue_depth: usize,
    queue_timeout: Duration,
    max_share: f64,
    control: Mutex<Control>,
    adaptive: Option<AdaptiveConcurrencyConfig>,
}

#[derive(Debug)]
struct Control {
    /// The limit in force.
    limit: usize,
    /// Slots taken; above `limit` while a lowered limit waits for taken slots to come back.
    in_use: usize,
    /// Requests waiting now (their [`Waiter`]s are alive).
    waiting: usize,
    turns: Classes,
    /// Slots each client holds now (clients holding none are absent).
    held: HashMap<Arc<str>, usize>,
    /// Moving average of how long a slot is held, in seconds; None until one came back.
    mean_hold_s: Option<f64>,
    /// Answer times since the last adjustment (adaptive only).
    samples: Vec<Duration>,
}

/// Waiting requests in their priority classes: interactive ones first.
#[derive(Debug, Default)]
struct Classes {
    interactive: FairQueue,
    batch: FairQueue,
}

impl Classes {
    fn class(&mut self, priority: Priority) -> &mut FairQueue {
        match priority {
            Priority::Interactive => &mut self.interactive,
            Priority::Batch => &mut self.batch,
        }
    }

    fn push(&mut self, client: &str, priority: Priority, grant: oneshot::Sender<()>) {
        self.class(priority).push(client, grant);
    }

    fn is_empty(&self) -> bool {
        self.interactive.is_empty() && self.batch.is_empty()
    }

    /// The next request to serve: interactive ones first, each class in turn.
    fn pop(
        &mut self,
        below_share: impl Fn(&str) -> bool,
    ) -> Option<(Arc<str>, oneshot::Sender<()>)> {
        self.interactive
            .pop(&below_share)
            .or_else(|| self.batch.pop(&below_share))
    }

    /// How many requests will be served before a new one of `client` in `priority`, itself
    /// included: a batch request comes after every interactive one waiting.
    fn place_for(&self, client: &str, priority: Priority) -> usize {
        match priority {
            Priority::Interactive => self.interactive.place_for(client),
            Priority::Batch => self.interactive.waiting() + self.batch.place_for(client),
        }
    }
}

/// Waiting requests of one class, a queue per client, served in turn.
#[derive(Debug, Default)]
struct FairQueue {
    /// Each client's waiting requests, oldest first: the sender that hands one its slot. A
    /// client has an entry exactly while it is in `rotation`.
    queues: HashMap<Arc<str>, VecDeque<oneshot::Sender<()>>>,
    /// Clients with someone waiting, the next to be served first.
    rotation: VecDeque<Arc<str>>,
}

impl FairQueue {
    fn push(&mut self, client: &str, grant: oneshot::Sender<()>) {
        match self.queues.get_mut(client) {
            Some(queue) => {
                // Requests that stopped waiting (timed out, cancelled) go when seen.
                queue.retain(|waiting| !waiting.is_closed());
                queue.push_back(grant);
            }
            None => {
                let client: Arc<str> = Arc::from(client);
                self.queues
                    .insert(Arc::clone(&client), VecDeque::from([grant]));
                self.rotation.push_back(client);
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.rotation.is_empty()
    }

    /// The next request to serve: the oldest of the first client in the rotation that
    /// `below_share` lets take a slot (or, if none, of the client whose turn it is); that
    /// client then goes to the back of the rotation, the ones it passed keep their turn.
    fn pop(
        &mut self,
        below_share: &impl Fn(&str) -> bool,
    ) -> Option<(Arc<str>, oneshot::Sender<()>)> {
        if let Some(turn) = self.rotation.iter().position(|client| below_share(client))
            && let Some(client) = self.rotation.remove(turn)
        {
            self.rotation.push_front(client);
        }
        while let Some(client) = self.rotation.pop_front() {
            let Some(queue) = self.queues.get_mut(&client) else {
                continue;
            };
            let next = queue.pop_front();
            if queue.is_empty() {
                self.queues.remove(&client);
            } else {
                self.rotation.push_back(Arc::clone(&client));
            }
            if let Some(next) = next {
                return Some((client, next));
            }
        }
        None
    }

    /// Requests still waiting (not timed out or cancelled).
    fn waiting(&self) -> usize {
        self.queues.values().map(live).sum()
    }

    /// How many requests will be served before a new one of `client`, itself included: its
    /// own queue's requests and one more, plus, from every other client, as many as that
    /// (round robin), or all they have.
    fn place_for(&self, client: &str) -> usize {
        let own = self.queues.get(client).map_or(0, live) + 1;
        let others: usize = self
            .queues
            .iter()
            .filter(|(name, _)| name.as_ref() != client)
            .map(|(_, queue)| live(queue).min(own))
            .sum();
        own + others
    }
}

/// Requests of one client's queue that still wait.
fn live(queue: &VecDeque<oneshot::Sender<()>>) -> usize {
    queue.iter().filter(|waiting| !waiting.is_closed()).count()
}

/// A slot on a backend. Dropping it returns it; [`Slot::completed`] also counts its time
/// towards adaptive concurrency.
#[derive(Debug)]
pub struct Slot {
    limiter: Arc<Limiter>,
    client: Arc<str>,
    taken: Instant,
}

impl Slot {
    /// The answer this slot served is complete: its time is a sample for the adaptive limit.
    pub fn completed(self) {
        self.limiter.sample(self.taken.elapsed());
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.limiter
            .give_back(&self.client, Some(self.taken.elapsed()));
    }
}

/// A request in the queue. However its wait ends (a slot, a timeout, the caller cancelled),
/// dropping it takes it off the count, and a slot handed to it that it did not take goes back.
struct Waiter<'a> {
    limiter: &'a Limiter,
    client: Arc<str>,
    grant: oneshot::Receiver<()>,
    served: bool,
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        self.limiter.control().waiting -= 1;
        if !self.served && self.grant.try_recv().is_ok() {
            self.limiter.give_back(&self.client, None);
        }
    }
}

impl Limiter {
    /// A limiter of `max_concurrent` slots, or, with `adaptive` enabled, of a limit that starts
    /// at its `initial` and moves; while others wait, a client holds at most `max_share` of it.
    pub fn new(
        max_concurrent: usize,
        queue_depth: usize,
        queue_timeout: Duration,
        max_share: f64,
        adaptive: Option<AdaptiveConcurrencyConfig>,
    ) -> Arc<Self> {
        let limit = adaptive.as_ref().map_or(max_concurrent, |a| a.initial);
        Arc::new(Self {
            queue_depth,
            queue_timeout,
            max_share,
            control: Mutex::new(Control {
                limit,
                in_use: 0,
                waiting: 0,
                turns: Classes::default(),
                held: HashMap::new(),
                mean_hold_s: None,
                samples: Vec::new(),
            }),
            adaptive,
        })
    }

    fn control(&self) -> std::sync::MutexGuard<'_, Control> {
        self.control.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The concurrency limit in force.
    pub fn limit(&self) -> usize {
        self.control().limit
    }

    /// Requests holding a slot now.
    pub fn in_flight(&self) -> usize {
        self.control().in_use
    }

    /// Requests waiting for a slot now.
    pub fn queued(&self) -> usize {
        self.control().waiting
    }

    /// Takes a slot for `client`, waiting in its queue (of its `priority` class) if need be, or
    /// says at once why not.
    pub async fn acquire(
        self: &Arc<Self>,
        client: &str,
        priority: Priority,
        deadline: Option<Instant>,
    ) -> Result<Slot, Refusal> {
        let now = Instant::now();
        let mut limit = now + self.queue_timeout;
        if let Some(deadline) = deadline {
            limit = limit.min(deadline);
        }
        let grant = {
            let mut control = self.control();
            let client: Arc<str> = Arc::from(client);
            if control.in_use < control.limit && control.turns.is_empty() {
                control.take(&client);
                return Ok(self.slot(client));
            }
            let place = control.turns.place_for(&client, priority);
            let expected = expected_wait(&control, place);
            if control.waiting >= self.queue_depth {
                return Err(Refusal::QueueFull { place, expected });
            }
            if let Some(expected) = expected
                && now + expected > limit
            {
                return Err(Refusal::WaitTooLong { place, expected });
            }
            let (grant, granted) = oneshot::channel();
            control.turns.push(&client, priority, grant);
            control.waiting += 1;
            // A slot may be free behind requests that stopped waiting: served in turn now.
            self.hand_out(&mut control);
            (client, granted)
        };
        let (client, grant) = grant;
        let mut waiter = Waiter {
            limiter: self,
            client: Arc::clone(&client),
            grant,
            served: false,
        };
        match tokio::time::timeout_at(limit, &mut waiter.grant).await {
            Ok(Ok(())) => {
                waiter.served = true;
                Ok(self.slot(client))
            }
            // The sender is never dropped unsent but by a pop that found this waiter gone;
            // treat it like a timeout all the same.
            Ok(Err(_)) | Err(_) => Err(Refusal::TimedOut),
        }
    }

    fn slot(self: &Arc<Self>, client: Arc<str>) -> Slot {
        Slot {
            limiter: Arc::clone(self),
            client,
            taken: Instant::now(),
        }
    }

    /// A slot comes back (held for `held`, when it served a request): it goes to the next
    /// waiting request in turn, if the limit allows.
    fn give_back(&self, client: &str, held: Option<Duration>) {
        let mut control = self.control();
        if let Some(held) = held {
            let sample = held.as_secs_f64();
            control.mean_hold_s = Some(match control.mean_hold_s {
                None => sample,
                Some(old) => old + HOLD_TIME_WEIGHT * (sample - old),
            });
        }
        control.give_up(client);
        self.hand_out(&mut control);
    }

    /// Counts a completed answer's time; every `sample_size` of them, moves the limit.
    fn sample(&self, took: Duration) {
        let Some(adaptive) = &self.adaptive else {
            return;
        };
        let mut control = self.control();
        control.samples.push(took);
        if control.samples.len() < adaptive.sample_size {
            return;
        }
        let mut samples = std::mem::take(&mut control.samples);
        samples.sort();
        let p95 = samples[(samples.len() * 95).div_ceil(100) - 1];
        let old = control.limit;
        let new = if p95 > adaptive.target_p95 {
            (old * 3 / 4).min(old - 1).max(adaptive.min)
        } else {
            (old + 1).min(adaptive.max)
        };
        // A raised limit serves waiting requests now; a lowered one as slots come back.
        control.limit = new;
        self.hand_out(&mut control);
        if new != old {
            tracing::info!(
                evt = "concurrency_limit_changed",
                from = old,
                to = new,
                p95_ms = p95.as_millis() as u64,
                target_ms = adaptive.target_p95.as_millis() as u64,
            );
        }
    }
}

impl Limiter {
    /// Gives free slots to waiting requests, in turn, while the limit allows; a client at its
    /// share is passed over while another waiting client is below it.
    fn hand_out(&self, control: &mut Control) {
        let share = share_of(control.limit, self.max_share);
        while control.in_use < control.limit {
            let held = &control.held;
            let Some((client, grant)) = control
                .turns
                .pop(|client| held.get(client).copied().unwrap_or(0) < share)
            else {
                break;
            };
            control.take(&client);
            if grant.send(()).is_err() {
                // It stopped waiting before its turn came: the slot goes to the next.
                control.give_up(&client);
            }
        }
    }
}

impl Control {
    fn take(&mut self, client: &Arc<str>) {
        self.in_use += 1;
        *self.held.entry(Arc::clone(client)).or_insert(0) += 1;
    }

    fn give_up(&mut self, client: &str) {
        self.in_use = self.in_use.saturating_sub(1);
        if let Some(held) = self.held.get_mut(client) {
            *held -= 1;
            if *held == 0 {
                self.held.remove(client);
            }
        }
    }
}

/// The slots one client may hold while others wait: `max_share` of `limit`, rounded up, at
/// least one.
fn share_of(limit: usize, max_share: f64) -> usize {
    ((limit as f64 * max_share).ceil() as usize).clamp(1, limit.max(1))
}

/// The wait a request that `place - 1` others will be served before can expect: every `limit`
/// of them take one mean hold time.
fn expected_wait(control: &Control, place: usize) -> Option<Duration> {
    let mean = control.mean_hold_s?;
    let rounds = place.div_ceil(control.limit.max(1)) as f64;
    Duration::try_from_secs_f64(mean * rounds).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn slots_then_queue_then_refusal() {
        let limiter = Limiter::new(2, 1, Duration::from_secs(10), 1.0, None);
        let a = limiter
            .acquire("anna", Priority::Interactive, None)
            .await
            .unwrap();
        let _b = limiter
            .acquire("anna", Priority::Interactive, None)
            .await
            .unwrap();
        assert_eq!(limiter.in_flight(), 2);

        let queued = {
            let limiter = limiter.clone();
            tokio::spawn(async move { limiter.acquire("anna", Priority::Interactive, None).await })
        };
        tokio::task::yield_now().await;
        assert_eq!(limiter.queued(), 1);
        assert_eq!(
            limiter
                .acquire("anna", Priority::Interactive, None)
                .await
                .unwrap_err(),
            Refusal::QueueFull {
                place: 2,
                expected: None
            },
            "second in anna's own queue; no slot has come back yet to time"
        );
        assert_eq!(
            limiter.queued(),
            1,
            "a refused request leaves the queue at once"
        );

        drop(a);
        let slot = queued.await.unwrap();
        assert!(slot.is_ok(), "the waiting request gets the freed slot");
        assert_eq!(limiter.queued(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_past_the_queue_timeout_ends_with_a_refusal() {
        let limiter = Limiter::new(1, 4, Duration::from_millis(500), 1.0, None);
        let _held = limiter
            .acquire("anna", Priority::Interactive, None)
            .await
            .unwrap();
        let started = Instant::now();
        assert_eq!(
            limiter
                .acquire("anna", Priority::Interactive, None)
                .await
                .unwrap_err(),
            Refusal::TimedOut
        );
        assert_eq!(started.elapsed(), Duration::from_millis(500));
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_bounds_the_wait() {
        let limiter = Limiter::new(1, 4, Duration::from_secs(10), 1.0, None);
        let _held = limiter
            .acquire("anna", Priority::Interactive, None)
            .await
            .unwrap();
        let started = Instant::now();
        let deadline = started + Duration::from_millis(200);
        assert_eq!(
            limiter
                .acquire("anna", Priority::Interactive, Some(deadline))
                .await
                .unwrap_err(),
            Refusal::TimedOut
        );
        assert_eq!(started.elapsed(), Duration::from_millis(200));
    }

    #[tokio::test(start_paused = true)]
    async fn an_expected_wait_past_the_deadline_is_refused_without_waiting() {
        let limiter = Limiter::new(1, 4, Duration::from_secs(10), 1.0, None);
        // Teach it that a slot is held for 2 s.
        let slot = limiter
            .acquire("anna", Priority::Interactive, None)
            .await
            .unwrap();
        tokio::time::advance(Duration::from_secs(2)).await;
        drop(slot);
        let _held = limiter
            .acquire("anna", Priority::Interactive, None)
            .await
            .unwrap();
        let started = Instant::now();
        let refusal = limiter
            .acquire(
                "anna",
                Priority::Interactive,
                Some(started + Duration::from_secs(1)),
            )
            .await
            .unwrap_err();
        assert_eq!(
            refusal,
            Refusal::WaitTooLong {
                place: 1,
                expected: Duration::from_secs(2)
            }
        );
        assert_eq!(started.elapsed(), Duration::ZERO, "refused at once");
    }

    #[tokio::test(start_paused = true)]
    async fn an_interactive_request_goes_before_every_batch_one_waiting() {
        let limiter = Limiter::new(1, 16, Duration::from_secs(60), 1.0, None);
        let held = limiter
            .acquire("jobs", Priority::Batch, None)
            .await
            .unwrap();
        let served = Arc::new(Mutex::new(Vec::new()));
        let wait = |client: &'static str, priority| {
            let (limiter, served) = (limiter.clone(), served.clone());
            tokio::spawn(async move {
                let slot = limiter.acquire(client, priority, None).await.unwrap();
                served.lock().unwrap().push(client);
                tokio::time::sleep(Duration::from_secs(1)).await;
                drop(slot);
            })
        };
        // Five batch clients wait, one request each; then a person asks.
        let mut tasks: Vec<_> = ["b1", "b2", "b3", "b4", "b5"]
            .into_iter()
            .map(|client| wait(client, Priority::Batch))
            .collect();
        tokio::task::yield_now().await;
        assert_eq!(
            limiter
                .control()
                .turns
                .place_for("anna", Priority::Interactive),
            1,
            "first in line, before five batch requests"
        );
        assert_eq!(
            limiter.control().turns.place_for("b6", Priority::Batch),
            6,
            "a sixth batch client after the five"
        );
        tasks.push(wait("anna", Priority::Interactive));
        tokio::task::yield_now().await;
        drop(held);
        for task in tasks {
            task.await.unwrap();
        }
        let order = served.lock().unwrap().clone();
        assert_eq!(order, ["anna", "b1", "b2", "b3", "b4", "b5"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_names_the_place_in_the_fair_queue_and_its_expected_wait() {
        let limiter = Limiter::new(1, 3, Duration::from_secs(60), 1.0, None);
        // A slot is held for 3 s.
        let slot = limiter
            .acquire("anna", Priority::Interactive, None)
            .await
            .unwrap();
        tokio::time::advance(Duration::from_secs(3)).await;
        drop(slot);
        let _held = limiter
            .acquire("anna", Priority::Interactive, None)
            .await
            .unwrap();
        let waiting: Vec<_> = (0..3)
            .map(|_| {
                let limiter = limiter.clone();
                tokio::spawn(
                    async move { limiter.acquire("anna", Priority::Interactive, None).await },
                )
            })
            .collect();
        tokio::task::yield_now().await;
        assert_eq!(limiter.queued(), 3);
        // Bob would be served after one of anna's three, not after all of them.
        assert_eq!(
            limiter
                .acquire("bob", Priority::Interactive, None)
                .await
                .unwrap_err(),
            Refusal::QueueFull {
                place: 2,
                expected: Some(Duration::from_secs(6))
            }
        );
        for task in waiting {
            task.abort();
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_waiter_gives_up_its_place() {
        let limiter = Limiter::new(1, 1, Duration::from_secs(10), 1.0, None);
        let _held = limiter
            .acquire("anna", Priority::Interactive, None)
            .await
            .unwrap();
        let waiter = {
            let limiter = limiter.clone();
            tokio::spawn(async move { limiter.acquire("anna", Priority::Interactive, None).await })
        };
        tokio::task::yield_now().await;
        assert_eq!(limiter.queued(), 1);
        waiter.abort();
        let _ = waiter.await;
        assert_eq!(limiter.queued(), 0);
    }

    /// The order in which the requests of `clients` (each with its name and how many it sends,
    /// all at once, in that order) get one of `slots` slots, each held for a second.
    /// `share` is `max_share_per_client`.
    async fn served_order(
        slots: usize,
        share: f64,
        clients: &[(&'static str, usize)],
    ) -> Vec<&'static str> {
        let limiter = Limiter::new(slots, 256, Duration::from_secs(600), share, None);
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for &(client, count) in clients {
            for _ in 0..count {
                let (limiter, order) = (limiter.clone(), order.clone());
                tasks.push(tokio::spawn(async move {
                    let slot = limiter
                        .acquire(client, Priority::Interactive, None)
                        .await
                        .unwrap();
                    order.lock().unwrap().push(client);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    drop(slot);
                }));
                tokio::task::yield_now().await;
            }
        }
        for task in tasks {
            task.await.unwrap();
        }
        order.lock().unwrap().clone()
    }

    #[tokio::test(start_paused = true)]
    async fn one_request_is_not_kept_waiting_behind_another_clients_forty() {
        let order = served_order(3, 1.0, &[("a", 40), ("b", 1)]).await;
        let b = order.iter().position(|client| *client == "b").unwrap();
        // a's first three take the slots; of the next free slots one goes to a (whose turn it
        // is) and one to b. In a first-come queue b would be 41st.
        assert!(b <= 5, "b was served {}th: {order:?}", b + 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_at_its_share_lets_a_waiting_client_go_first() {
        // 3 slots, a share of one half: a may hold 2 while b waits. a's first three took every
        // slot (nobody else waited); the first slot back goes to b, not to a whose turn it is.
        let shared = served_order(3, 0.5, &[("a", 8), ("b", 1)]).await;
        assert_eq!(shared.iter().position(|c| *c == "b"), Some(3), "{shared:?}");
        let turns_only = served_order(3, 1.0, &[("a", 8), ("b", 1)]).await;
        assert_eq!(
            turns_only.iter().position(|c| *c == "b"),
            Some(4),
            "{turns_only:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_lone_client_uses_every_slot_whatever_its_share() {
        let limiter = Limiter::new(3, 8, Duration::from_secs(10), 0.34, None);
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(
                limiter
                    .acquire("a", Priority::Interactive, None)
                    .await
                    .unwrap(),
            );
        }
        assert_eq!(limiter.in_flight(), 3);
        // A fourth of a's waits; a slot back goes to it: no one else wants it.
        let waiting = {
            let limiter = limiter.clone();
            tokio::spawn(async move { limiter.acquire("a", Priority::Interactive, None).await })
        };
        tokio::task::yield_now().await;
        drop(held.pop());
        assert!(waiting.await.unwrap().is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn clients_take_turns_and_each_keeps_its_own_order() {
        let order = served_order(1, 1.0, &[("a", 3), ("b", 3), ("c", 1)]).await;
        assert_eq!(order, ["a", "a", "b", "c", "a", "b", "b"]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_expected_wait_counts_only_those_served_before() {
        let limiter = Limiter::new(1, 64, Duration::from_secs(600), 1.0, None);
        // Teach it that a slot is held for 1 s.
        let slot = limiter
            .acquire("a", Priority::Interactive, None)
            .await
            .unwrap();
        tokio::time::advance(Duration::from_secs(1)).await;
        drop(slot);
        let _held = limiter
            .acquire("a", Priority::Interactive, None)
            .await
            .unwrap();
        let mut waiting = Vec::new();
        for _ in 0..20 {
            let limiter = limiter.clone();
            waiting.push(tokio::spawn(async move {
                limiter.acquire("a", Priority::Interactive, None).await
            }));
            tokio::task::yield_now().await;
        }
        assert_eq!(limiter.queued(), 20);
        // Twenty of a's are ahead in the queue, but b is served second: a 2 s wait fits in 3.
        let deadline = Instant::now() + Duration::from_secs(3);
        let b = {
            let limiter = limiter.clone();
            tokio::spawn(async move {
                limiter
                    .acquire("b", Priority::Interactive, Some(deadline))
                    .await
            })
        };
        tokio::task::yield_now().await;
        assert_eq!(limiter.queued(), 21, "b waits instead of being refused");
        // A second client a's size would wait past it.
        assert!(matches!(
            limiter
                .acquire("a", Priority::Interactive, Some(deadline))
                .await,
            Err(Refusal::WaitTooLong { .. })
        ));
        b.abort();
        for task in waiting {
            task.abort();
        }
    }

    fn adaptive() -> Option<AdaptiveConcurrencyConfig> {
        Some(AdaptiveConcurrencyConfig {
            enabled: true,
            min: 1,
            max: 10,
            initial: 5,
            target_p95: Duration::from_secs(2),
            sample_size: 5,
        })
    }

    /// Completes `n` answers that each take `took`, one after another.
    async fn answers(limiter: &Arc<Limiter>, n: usize, took: Duration) {
        for _ in 0..n {
            let slot = limiter
                .acquire("anna", Priority::Interactive, None)
                .await
                .unwrap();
            tokio::time::advance(took).await;
            slot.completed();
        }
    }

    #[tokio::test(start_paused = true)]
    async fn slow_answers_lower_the_limit_and_fast_ones_raise_it_within_bounds() {
        let limiter = Limiter::new(3, 16, Duration::from_secs(10), 1.0, adaptive());
        assert_eq!(limiter.limit(), 5, "adaptive starts from its initial limit");
        answers(&limiter, 5, Duration::from_secs(3)).await;
        assert_eq!(limiter.limit(), 3, "5 * 3/4 = 3");
        answers(&limiter, 10, Duration::from_secs(3)).await;
        assert_eq!(limiter.limit(), 1, "3 -> 2 -> 1");
        answers(&limiter, 5, Duration::from_secs(3)).await;
        assert_eq!(limiter.limit(), 1, "never below min");
        answers(&limiter, 100, Duration::from_millis(500)).await;
        assert_eq!(
            limiter.limit(),
            10,
            "one step per 5 answers, never above max"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_lowered_limit_waits_for_taken_slots_instead_of_cutting_them() {
        let limiter = Limiter::new(3, 16, Duration::from_secs(10), 1.0, adaptive());
        let held: Vec<Slot> = futures_util::future::join_all(
            (0..5).map(|_| limiter.acquire("anna", Priority::Interactive, None)),
        )
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
        assert_eq!(limiter.in_flight(), 5);
        // Five slow answers from a second limiter's worth of samples: feed them directly.
        for _ in 0..5 {
            limiter.sample(Duration::from_secs(3));
        }
        assert_eq!(limiter.limit(), 3);
        assert_eq!(limiter.in_flight(), 5, "running answers keep their slots");
        drop(held);
        assert_eq!(limiter.in_flight(), 0);
        let now: Vec<Slot> = futures_util::future::join_all(
            (0..3).map(|_| limiter.acquire("anna", Priority::Interactive, None)),
        )
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
        assert_eq!(limiter.in_flight(), 3);
        assert_eq!(
            limiter
                .acquire("anna", Priority::Interactive, Some(Instant::now()))
                .await
                .unwrap_err(),
            Refusal::TimedOut,
            "the fourth waits: the limit is 3 now"
        );
        drop(now);
    }

    #[tokio::test(start_paused = true)]
    async fn without_adaptive_the_limit_never_moves() {
        let limiter = Limiter::new(3, 16, Duration::from_secs(10), 1.0, None);
        answers(&limiter, 40, Duration::from_secs(30)).await;
        assert_eq!(limiter.limit(), 3);
    }
}
