//! What the cluster keeps in Redis, and the Lua scripts that change it.
//!
//! One room, `lobby`, is these keys (the `{lobby}` hash tag would keep them
//! on one Redis Cluster shard; see the README):
//!
//! | key                     | type   | holds                                        |
//! |-------------------------|--------|----------------------------------------------|
//! | `wsloop:{lobby}:meta`   | hash   | `n` (every event), `seq` (chat messages)     |
//! | `wsloop:{lobby}:log`    | stream | the last events, entry id `<n>-1`, field `e` |
//! | `wsloop:{lobby}:members`| hash   | `<id>@<node>` → `{"v1":..,"name":..}`        |
//! | `wsloop:{lobby}:names`  | hash   | folded name → `<id>@<node>` holding it       |
//! | channel `wsloop:{lobby}`| pubsub | every event, as it is appended to the log    |
//!
//! and per node: `wsloop:alive:<node>` (a key with a TTL, the heartbeat),
//! `wsloop:node:<node>:rooms` (where its members are), all in the set
//! `wsloop:nodes`.
//!
//! Why a script: numbering an event, appending it to the log and publishing
//! it must be one step, or two nodes could publish in one order and log in
//! the other. Redis runs a script atomically, so the room has one order
//! (Centrifugo's design). The `floor` arguments carry the highest numbers
//! this node has seen, so that a Redis that restarted empty goes on
//! counting above them instead of from 1 — a million above, since another
//! node may have seen more than the first one to post after the restart.

/// Numbers, logs and publishes one room event; checks names and whisper
/// targets first. ARGV: room, kind, member, node, fold, floor_n,
/// floor_seq, maxlen, body (JSON members without braces), info, target.
/// Returns `{n, seq}`, `{0, 0}` when there was nothing to do (a member
/// registered twice), `{-1, holder}` for a taken name, `{-2, 0}` for a
/// whisper to nobody.
pub const POST: &str = r#"
local room, kind, member, node, fold = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local p = 'wsloop:{' .. room .. '}:'
local meta, log, members, names = p .. 'meta', p .. 'log', p .. 'members', p .. 'names'
if kind == 'hello' then
  local holder = redis.call('HGET', names, fold)
  if holder and holder ~= member then return {-1, holder} end
  if holder and redis.call('HGET', members, member) == ARGV[10] then return {0, 0} end
  redis.call('HSET', names, fold, member)
  redis.call('HSET', members, member, ARGV[10])
  redis.call('SADD', 'wsloop:node:' .. node .. ':rooms', room)
elseif kind == 'join' then
  if redis.call('HEXISTS', members, member) == 1 then return {0, 0} end
  redis.call('HSET', members, member, ARGV[10])
  redis.call('SADD', 'wsloop:node:' .. node .. ':rooms', room)
elseif kind == 'leave' then
  if redis.call('HEXISTS', members, member) == 0 then return {0, 0} end
  redis.call('HDEL', members, member)
  if fold ~= '' and redis.call('HGET', names, fold) == member then
    redis.call('HDEL', names, fold)
  end
elseif kind == 'whisper' then
  if redis.call('HEXISTS', members, ARGV[11]) == 0 then return {-2, 0} end
end
local floor, floor_seq = tonumber(ARGV[6]), tonumber(ARGV[7])
if (floor > 0 or floor_seq > 0) and redis.call('EXISTS', meta) == 0 then
  -- This Redis lost the room (restarted without its data). Another node
  -- may have seen more than this one: number far above what any node can
  -- have seen, so no new event reuses a number.
  redis.call('HSET', meta, 'n', floor + 1000000, 'seq', floor_seq + 1000000)
end
local n = redis.call('HINCRBY', meta, 'n', 1)
if n <= floor then n = floor + 1; redis.call('HSET', meta, 'n', n) end
local seq = 0
if kind == 'say' or kind == 'plain' or kind == 'whisper' then
  seq = redis.call('HINCRBY', meta, 'seq', 1)
  if seq <= floor_seq then seq = floor_seq + 1; redis.call('HSET', meta, 'seq', seq) end
end
local entry = '{"n":' .. n .. ',"seq":' .. seq .. ',' .. ARGV[9] .. '}'
redis.call('XADD', log, 'MAXLEN', '~', ARGV[8], n .. '-1', 'e', entry)
redis.call('PUBLISH', 'wsloop:{' .. room .. '}', entry)
return {n, seq}
"#;

/// A room as it is now: `{n, seq, {member, info, member, info, ...}}`.
/// ARGV: room, floor_n, floor_seq. A Redis that restarted empty has lost
/// the room's counters: they are raised to what this node has seen, so no
/// new event reuses a number a member already has.
pub const SNAPSHOT: &str = r#"
local p = 'wsloop:{' .. ARGV[1] .. '}:'
local meta = redis.call('HMGET', p .. 'meta', 'n', 'seq')
local n, seq = tonumber(meta[1]) or 0, tonumber(meta[2]) or 0
local floor_n, floor_seq = tonumber(ARGV[2]) or 0, tonumber(ARGV[3]) or 0
if (floor_n > 0 or floor_seq > 0) and redis.call('EXISTS', p .. 'meta') == 0 then
  n, seq = floor_n + 1000000, floor_seq + 1000000 -- lost: see POST
  redis.call('HSET', p .. 'meta', 'n', n, 'seq', seq)
end
if n < floor_n then n = floor_n; redis.call('HSET', p .. 'meta', 'n', n) end
if seq < floor_seq then seq = floor_seq; redis.call('HSET', p .. 'meta', 'seq', seq) end
return {n, seq, redis.call('HGETALL', p .. 'members')}
"#;

/// Every node whose heartbeat key expired: its members leave each room it
/// was in, with a `leave` event in the room's order, and its names are
/// free again. Run by every node on its heartbeat; atomic, so a dead node
/// is reaped once. ARGV[1], when not empty, is reaped whether alive or not:
/// a node restarted under the same `--node` name clears what its earlier
/// incarnation left. Returns how many members left.
pub const REAP: &str = r#"
local reaped = 0
local forced = ARGV[1] or ''
for _, node in ipairs(redis.call('SMEMBERS', 'wsloop:nodes')) do
  if node == forced or redis.call('EXISTS', 'wsloop:alive:' .. node) == 0 then
    local rooms_key = 'wsloop:node:' .. node .. ':rooms'
    local suffix = '@' .. node
    for _, room in ipairs(redis.call('SMEMBERS', rooms_key)) do
      local p = 'wsloop:{' .. room .. '}:'
      local all = redis.call('HGETALL', p .. 'members')
      for i = 1, #all, 2 do
        local member, info = all[i], all[i + 1]
        if string.sub(member, -#suffix) == suffix then
          redis.call('HDEL', p .. 'members', member)
          local ok, decoded = pcall(cjson.decode, info)
          local name = ''
          if ok and type(decoded) == 'table' and type(decoded['name']) == 'string' then
            name = decoded['name']
            local fold = decoded['fold']
            if type(fold) == 'string' and redis.call('HGET', p .. 'names', fold) == member then
              redis.call('HDEL', p .. 'names', fold)
            end
          end
          local n = redis.call('HINCRBY', p .. 'meta', 'n', 1)
          local entry = '{"n":' .. n .. ',"seq":0,"k":"leave","o":"","on":0,"m":' ..
            cjson.encode(member) .. ',"name":' .. cjson.encode(name) .. '}'
          redis.call('XADD', p .. 'log', 'MAXLEN', '~', '10000', n .. '-1', 'e', entry)
          redis.call('PUBLISH', 'wsloop:{' .. room .. '}', entry)
          reaped = reaped + 1
        end
      end
    end
    redis.call('DEL', rooms_key)
    redis.call('SREM', 'wsloop:nodes', node)
  end
end
return reaped
"#;

/// The SHA1 `EVALSHA` names a script by (computed here, so commands can be
/// pipelined right behind the `SCRIPT LOAD`).
pub fn sha(script: &str) -> String {
    sha1_smol::Sha1::from(script).digest().to_string()
}

/// The pub/sub channel of a room.
pub fn channel(room: &str) -> String {
    format!("wsloop:{{{room}}}")
}

/// The room a channel name belongs to.
pub fn room_of_channel(channel: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(channel).ok()?;
    s.strip_prefix("wsloop:{")?.strip_suffix('}')
}

pub fn log_key(room: &str) -> String {
    format!("wsloop:{{{room}}}:log")
}

pub fn alive_key(node: &str) -> String {
    format!("wsloop:alive:{node}")
}

pub const NODES_KEY: &str = "wsloop:nodes";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_name_their_room() {
        assert_eq!(channel("lobby"), "wsloop:{lobby}");
        assert_eq!(room_of_channel(b"wsloop:{lobby}"), Some("lobby"));
        assert_eq!(room_of_channel(b"other"), None);
        assert_eq!(room_of_channel(b"wsloop:{x"), None);
    }

    #[test]
    fn script_shas_are_sha1_hex() {
        let s = sha(POST);
        assert_eq!(s.len(), 40);
        assert!(s.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(sha(POST), sha(REAP));
    }
}
