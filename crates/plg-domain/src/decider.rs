use crate::{DomainError, DomainEvent};

/// An aggregate: the state one stream folds into, and the decisions made against it.
/// Plain data, so that a state can be kept between commands and shared between threads.
pub trait Aggregate: Default + Clone + Send + Sync + 'static {
    /// The stream category, the `school` in `school-<id>`.
    const CATEGORY: &'static str;
    type Command;
    type Event: DomainEvent;

    /// Decides which events a command causes, or why it may not happen. Never returns an
    /// empty list for a command it accepts.
    fn decide(&self, command: &Self::Command) -> Result<Vec<Self::Event>, DomainError>;

    /// Folds one event into the state. Events are facts: no validation happens here.
    fn evolve(&mut self, event: &Self::Event);

    /// Whether the stream's personal data is erased, so its key must be gone.
    fn personal_data_erased(&self) -> bool {
        false
    }

    /// The state after a sequence of events.
    fn replay<'a>(events: impl IntoIterator<Item = &'a Self::Event>) -> Self
    where
        Self::Event: 'a,
    {
        events
            .into_iter()
            .fold(Self::default(), |mut state, event| {
                state.evolve(event);
                state
            })
    }
}

/// Given/when/then support for decider tests.
#[cfg(test)]
pub(crate) mod spec {
    use super::Aggregate;
    use crate::DomainError;

    pub(crate) fn given<A: Aggregate>(events: &[A::Event]) -> A {
        A::replay(events)
    }

    pub(crate) fn then_events<A: Aggregate>(state: &A, command: &A::Command) -> Vec<A::Event>
    where
        A::Event: std::fmt::Debug,
    {
        match state.decide(command) {
            Ok(events) => events,
            Err(error) => panic!("expected events, got error: {error}"),
        }
    }

    pub(crate) fn then_error<A: Aggregate>(state: &A, command: &A::Command) -> DomainError
    where
        A::Event: std::fmt::Debug,
    {
        match state.decide(command) {
            Ok(events) => panic!("expected an error, got events: {events:?}"),
            Err(error) => error,
        }
    }
}
