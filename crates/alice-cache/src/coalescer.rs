//! De-duplication of identical requests in flight.
//!
//! The first request for a key becomes the flight's leader: it gets a [`FlightWriter`] and
//! starts the one backend call. Requests for the same key that arrive while the call runs
//! become followers. Everyone, the leader included, reads the flight through a
//! [`FlightReader`], which replays the events from the first one and then follows new ones as
//! they come, so a follower that joins late still gets the whole answer.
//!
//! The call belongs to the flight, not to the leader's connection: the server runs the writer
//! in its own task, so a leader that disconnects leaves the followers their answer. When no
//! request reads the flight any more, the writer can tell ([`FlightWriter::unwatched`]) and
//! stop the call, so a generation nobody waits for does not keep the model busy. The flight
//! leaves the map when the writer is dropped (finished, failed, abandoned or panicked), so a
//! later request never joins a dead flight. A request that is not shareable never comes here: it pays
//! nothing for de-duplication.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::watch;

struct Flight<E> {
    events: Mutex<Vec<E>>,
    /// Events so far, and whether the writer is done; readers wait on it.
    progress: watch::Sender<Progress>,
}

#[derive(Clone, Copy, Default)]
struct Progress {
    len: usize,
    finished: bool,
}

type Flights<K, E> = Mutex<HashMap<K, Arc<Flight<E>>>>;

/// The flights in progress, by key.
pub struct Coalescer<K, E> {
    flights: Arc<Flights<K, E>>,
}

impl<K, E> Default for Coalescer<K, E> {
    fn default() -> Self {
        Self {
            flights: Arc::new(Mutex::new(HashMap::new())),
        }
    }
}

/// How a request joined a flight.
pub enum Joined<K: Hash + Eq, E> {
    /// No flight for the key was in progress: this request makes the call.
    Leader(FlightWriter<K, E>, FlightReader<E>),
    /// A flight was in progress; its events so far and to come.
    Follower(FlightReader<E>),
}

impl<K: Hash + Eq + Clone, E: Clone> Coalescer<K, E> {
    pub fn join(&self, key: &K) -> Joined<K, E> {
        let mut flights = self.flights.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(flight) = flights.get(key) {
            return Joined::Follower(FlightReader::new(flight.clone()));
        }
        let flight = Arc::new(Flight {
            events: Mutex::new(Vec::new()),
            progress: watch::Sender::new(Progress::default()),
        });
        flights.insert(key.clone(), flight.clone());
        Joined::Leader(
            FlightWriter {
                key: key.clone(),
                flight: flight.clone(),
                flights: self.flights.clone(),
            },
            FlightReader::new(flight),
        )
    }

    /// Flights in progress.
    pub fn in_flight(&self) -> usize {
        self.flights
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// The leader's end: adds events; dropping it ends the flight.
pub struct FlightWriter<K: Hash + Eq, E> {
    key: K,
    flight: Arc<Flight<E>>,
    flights: Arc<Flights<K, E>>,
}

impl<K: Hash + Eq, E> FlightWriter<K, E> {
    pub fn push(&self, event: E) {
        let len = {
            let mut events = self
                .flight
                .events
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            events.push(event);
            events.len()
        };
        self.flight.progress.send_modify(|p| p.len = len);
    }

    /// Resolves once no request reads the flight (a request may still join afterwards; see
    /// [`FlightWriter::abandon_if_unwatched`]).
    pub async fn unwatched(&self) {
        self.flight.progress.closed().await;
    }

    /// Ends the flight if no request reads it, atomically with respect to requests joining:
    /// true means it left the map and the call can stop; false means a request joined.
    pub fn abandon_if_unwatched(&self) -> bool {
        let mut flights = self.flights.lock().unwrap_or_else(PoisonError::into_inner);
        if self.flight.progress.receiver_count() > 0 {
            return false;
        }
        if flights
            .get(&self.key)
            .is_some_and(|f| Arc::ptr_eq(f, &self.flight))
        {
            flights.remove(&self.key);
        }
        true
    }
}

impl<K: Hash + Eq, E> Drop for FlightWriter<K, E> {
    fn drop(&mut self) {
        let mut flights = self.flights.lock().unwrap_or_else(PoisonError::into_inner);
        // Only this flight's entry: a new flight for the key cannot exist while this one is
        // in the map, but the check keeps that true by construction.
        if flights
            .get(&self.key)
            .is_some_and(|f| Arc::ptr_eq(f, &self.flight))
        {
            flights.remove(&self.key);
        }
        drop(flights);
        self.flight.progress.send_modify(|p| p.finished = true);
    }
}

/// One request's view of a flight, from its first event.
pub struct FlightReader<E> {
    flight: Arc<Flight<E>>,
    progress: watch::Receiver<Progress>,
    next: usize,
}

impl<E: Clone> FlightReader<E> {
    fn new(flight: Arc<Flight<E>>) -> Self {
        let progress = flight.progress.subscribe();
        Self {
            flight,
            progress,
            next: 0,
        }
    }

    /// The next event; None once the writer is done and every event was read.
    pub async fn next(&mut self) -> Option<E> {
        loop {
            let progress = *self.progress.borrow_and_update();
            if self.next < progress.len {
                let event = self
                    .flight
                    .events
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get(self.next)
                    .cloned();
                self.next += 1;
                return event;
            }
            if progress.finished {
                return None;
            }
            if self.progress.changed().await.is_err() {
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use std::time::Duration;

    async fn read_all(mut reader: FlightReader<u32>) -> Vec<u32> {
        let mut events = Vec::new();
        while let Some(event) = reader.next().await {
            events.push(event);
        }
        events
    }

    #[tokio::test]
    async fn followers_get_every_event_from_the_start_wherever_they_join() {
        let coalescer = Coalescer::<&str, u32>::default();
        let Joined::Leader(writer, leader) = coalescer.join(&"k") else {
            panic!("the first request leads");
        };
        writer.push(1);
        writer.push(2);
        let Joined::Follower(late) = coalescer.join(&"k") else {
            panic!("the second request follows");
        };
        let early = tokio::spawn(read_all(late));
        tokio::time::sleep(Duration::from_millis(10)).await;
        writer.push(3);
        assert_eq!(coalescer.in_flight(), 1);
        drop(writer);
        assert_eq!(coalescer.in_flight(), 0, "a finished flight leaves the map");
        assert_eq!(early.await.unwrap(), vec![1, 2, 3]);
        assert_eq!(read_all(leader).await, vec![1, 2, 3]);
    }

    #[tokio::test]
    async fn a_request_after_the_flight_ended_leads_a_new_one() {
        let coalescer = Coalescer::<&str, u32>::default();
        let Joined::Leader(writer, _) = coalescer.join(&"k") else {
            panic!("leads");
        };
        drop(writer);
        assert!(matches!(coalescer.join(&"k"), Joined::Leader(..)));
    }

    #[tokio::test]
    async fn a_flight_nobody_reads_can_be_abandoned_but_not_while_someone_joins() {
        let coalescer = Coalescer::<&str, u32>::default();
        let Joined::Leader(writer, leader) = coalescer.join(&"k") else {
            panic!("leads");
        };
        assert!(!writer.abandon_if_unwatched(), "the leader reads it");
        drop(leader);
        tokio::time::timeout(Duration::from_secs(1), writer.unwatched())
            .await
            .unwrap();
        assert!(writer.abandon_if_unwatched());
        assert_eq!(coalescer.in_flight(), 0);
        assert!(
            matches!(coalescer.join(&"k"), Joined::Leader(..)),
            "a new request starts a new flight"
        );
    }

    #[tokio::test]
    async fn different_keys_never_share() {
        let coalescer = Coalescer::<&str, u32>::default();
        let _a = coalescer.join(&"a");
        assert!(matches!(coalescer.join(&"b"), Joined::Leader(..)));
    }
}
