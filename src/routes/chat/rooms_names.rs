//! Who is who in a room: the names members see (local ones, and those on
//! other nodes in a cluster), how a name finds its member, and how names
//! are claimed — each name once per room, compared case-folded.

use super::{Member, Room};

/// Whom a name in a room stands for.
#[derive(Debug)]
pub enum Target<'a> {
    Local(&'a Member),
    Remote(&'a crate::routes::chat::remote::Remote),
}

impl Room {
    /// Names of everyone present who can be addressed: named v1 members and
    /// plain members as `#<id>`.
    pub fn member_names(&self) -> Vec<String> {
        let local = self.members.iter().filter(|m| !m.v1 || m.name.is_some());
        let local = local.map(|m| m.display(&self.id_suffix));
        let remote = self.remote.list.iter().filter(|r| r.listed());
        local
            .chain(remote.map(crate::routes::chat::remote::Remote::display))
            .collect()
    }

    /// A named member (by `name_key`), or a plain one by `#<id>` (on this
    /// node: `#<id>` or `#<id>@<node>`).
    pub fn find_by_name(&self, name: &str) -> Option<&Member> {
        if let Some(id) = name.strip_prefix('#') {
            let id = id.strip_suffix(self.id_suffix.as_str()).unwrap_or(id);
            let id = id.parse::<u64>().ok()?;
            return self.members.iter().find(|m| !m.v1 && m.id == id);
        }
        let key = *self.names.get(&name_key(name))?;
        self.member(key)
    }

    /// A member here or on another node, by the name others see.
    pub fn find_target(&self, name: &str) -> Option<Target<'_>> {
        if let Some(m) = self.find_by_name(name) {
            return Some(Target::Local(m));
        }
        let remote = match name.strip_prefix('#') {
            Some(member) => self.remote.get(member).filter(|r| !r.v1),
            None => self.remote.by_name(name),
        };
        remote.map(Target::Remote)
    }

    pub fn name_taken(&self, name: &str) -> bool {
        self.names.contains_key(&name_key(name)) || self.remote.name_taken(name)
    }

    /// Members on every node.
    pub fn everyone(&self) -> usize {
        self.members.len() + self.remote.len()
    }

    /// Gives member `key` its name; false if the name is taken.
    pub fn claim_name(&mut self, key: usize, name: &str) -> bool {
        if self.name_taken(name) {
            return false;
        }
        self.take_name(key, name)
    }

    /// Gives member `key` its name without asking whether another node's
    /// member has it (Redis already said it is ours).
    pub fn take_name(&mut self, key: usize, name: &str) -> bool {
        if self.names.get(&name_key(name)).is_some_and(|&k| k != key) {
            return false;
        }
        let Some(me) = self.member_mut(key) else {
            return false;
        };
        me.name = Some(name.to_string());
        self.names.insert(name_key(name), key);
        true
    }
}

/// How names are compared: two names with the same key are the same name.
pub fn name_key(name: &str) -> String {
    crate::names::fold(name)
}
