//! A room's members on other nodes (`--redis`), as this node learned them
//! from the room's events. They get no bytes from here — their own node
//! delivers to them — but they count for `who`, `welcome`, names and
//! whisper targets, so a member cannot tell which node anyone is on.

use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// `<id>@<node>`.
    pub member: String,
    pub v1: bool,
    pub name: Option<String>,
}

impl Remote {
    /// How others see it: its name, or `#<id>@<node>`.
    pub fn display(&self) -> String {
        match &self.name {
            Some(name) => name.clone(),
            None => format!("#{}", self.member),
        }
    }

    /// Listed in `who` (an unnamed v1 member is not yet anyone).
    pub fn listed(&self) -> bool {
        !self.v1 || self.name.is_some()
    }
}

#[derive(Debug, Default)]
pub struct RemoteMembers {
    pub list: Vec<Remote>,
    /// Folded name → member id.
    names: HashMap<String, String>,
}

/// What changed when a remote member was set.
#[derive(Debug, PartialEq, Eq)]
pub enum Change {
    None,
    /// Newly named (v1 members are told `joined`).
    Named(String),
    Arrived,
}

impl RemoteMembers {
    pub fn get(&self, member: &str) -> Option<&Remote> {
        self.list.iter().find(|r| r.member == member)
    }

    /// Adds or updates a member; idempotent, so an event replayed from the
    /// log, or a snapshot after it, changes nothing twice.
    pub fn set(&mut self, member: &str, v1: bool, name: Option<String>) -> Change {
        let fold = name.as_deref().map(super::rooms::name_key);
        let named = match self.list.iter_mut().find(|r| r.member == member) {
            Some(r) if r.name == name && r.v1 == v1 => return Change::None,
            Some(r) => {
                if let Some(old) = r.name.take() {
                    self.names.remove(&super::rooms::name_key(&old));
                }
                r.v1 = v1;
                r.name.clone_from(&name);
                name.clone()
            }
            None => {
                self.list.push(Remote {
                    member: member.to_string(),
                    v1,
                    name: name.clone(),
                });
                if name.is_none() {
                    return Change::Arrived;
                }
                name.clone()
            }
        };
        if let Some(fold) = fold {
            self.names.insert(fold, member.to_string());
        }
        match named {
            Some(name) => Change::Named(name),
            None => Change::Arrived,
        }
    }

    /// Removes a member; its name if it had one (v1 members are told
    /// `left`).
    pub fn remove(&mut self, member: &str) -> Option<Remote> {
        let pos = self.list.iter().position(|r| r.member == member)?;
        let gone = self.list.swap_remove(pos);
        if let Some(name) = &gone.name {
            self.names.remove(&super::rooms::name_key(name));
        }
        Some(gone)
    }

    pub fn by_name(&self, name: &str) -> Option<&Remote> {
        let member = self.names.get(&super::rooms::name_key(name))?;
        self.get(member)
    }

    pub fn name_taken(&self, name: &str) -> bool {
        self.names.contains_key(&super::rooms::name_key(name))
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn clear(&mut self) {
        self.list.clear();
        self.names.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setting_twice_changes_nothing_the_second_time() {
        let mut remote = RemoteMembers::default();
        assert_eq!(remote.set("3@b", false, None), Change::Arrived);
        assert_eq!(remote.set("3@b", false, None), Change::None);
        assert_eq!(
            remote.set("4@b", true, Some("Bob".into())),
            Change::Named("Bob".into())
        );
        assert_eq!(remote.set("4@b", true, Some("Bob".into())), Change::None);
        assert!(remote.name_taken("bob"));
        assert_eq!(
            remote.by_name("BOB").map(|r| r.member.as_str()),
            Some("4@b")
        );
        assert_eq!(
            remote.get("3@b").map(Remote::display).as_deref(),
            Some("#3@b")
        );
        assert_eq!(
            remote.remove("4@b").and_then(|r| r.name).as_deref(),
            Some("Bob")
        );
        assert!(!remote.name_taken("bob"));
        assert_eq!(remote.remove("4@b"), None);
        assert_eq!(remote.len(), 1);
    }
}
