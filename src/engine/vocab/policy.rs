//! A role's view of the data: the action for each kind, compiled to an array indexed by
//! [`KindId`](crate::vocab::kind::KindId) so that the hot path never hashes a name.
use crate::vocab::action::Action;
use crate::vocab::kind::KindId;

/// What one role sees.
#[derive(Clone, Debug)]
pub struct RolePolicy {
    pub name: String,
    actions: Vec<Action>,
    reveal: Vec<bool>,
    /// See [`next_generation`](crate::next_generation).
    generation: u64,
}

impl RolePolicy {
    pub fn new(name: String, actions: Vec<Action>, reveal: Vec<bool>) -> Self {
        debug_assert_eq!(actions.len(), reveal.len());
        RolePolicy {
            name,
            actions,
            reveal,
            generation: crate::next_generation(),
        }
    }

    /// Which policy this is, among those this process compiled.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    pub fn action(&self, kind: KindId) -> &Action {
        &self.actions[kind.0 as usize]
    }

    /// Whether this role may ask for the clear value of a token of `kind`.
    pub fn may_reveal(&self, kind: KindId) -> bool {
        self.reveal.get(kind.0 as usize).copied().unwrap_or(false)
    }

    /// True when every kind is clear: maskers may pass bytes through untouched.
    pub fn is_all_clear(&self) -> bool {
        self.actions.iter().all(|a| *a == Action::Clear)
    }
}
