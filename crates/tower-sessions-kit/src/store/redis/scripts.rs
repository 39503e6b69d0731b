//! The Lua scripts of [`RedisStore`](super::RedisStore), each sent by its SHA1 (`EVALSHA`).
//!
//! A session is one hash: a field per data key (the value's JSON) and the marker field `"\0"`, which keeps
//! an empty session in existence (Redis deletes an empty hash) and tells a session from a key that is
//! merely being written. Every script touches that one key only, so each runs on one node of a cluster.

use std::sync::LazyLock;

use cache_core::backends::redis::LuaScript;

/// KEYS: the session. ARGV: expire-at (Unix ms); `1` if the data was cleared first; the number of field
/// pairs `n`; `n` field/value pairs; the fields to remove. Applies the change only to an existing session
/// (0 when there is none: it was deleted, the save must not bring it back), then sets its expiry. Used
/// for a save that clears, and on a cluster; other saves are a `MULTI`/`EXEC` (`RedisStore::save`).
pub(super) static SAVE: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(
        "if redis.call('HEXISTS', KEYS[1], '\\0') == 0 then return 0 end \
         if ARGV[2] == '1' then redis.call('DEL', KEYS[1]) redis.call('HSET', KEYS[1], '\\0', '') end \
         local last = 3 + 2 * tonumber(ARGV[3]) \
         for i = 4, last, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end \
         for i = last + 1, #ARGV do redis.call('HDEL', KEYS[1], ARGV[i]) end \
         redis.call('PEXPIREAT', KEYS[1], ARGV[1]) \
         return 1",
    )
});

/// KEYS: the session. ARGV: expire-at (Unix ms); field/value pairs. Creates the session unless the key
/// is taken (0).
pub(super) static CREATE: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(
        "if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end \
         redis.call('HSET', KEYS[1], '\\0', '') \
         for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end \
         redis.call('PEXPIREAT', KEYS[1], ARGV[1]) \
         return 1",
    )
});

/// KEYS: the session. ARGV: the user field. Deletes the session; its user field's value, if any, so the
/// caller can drop it from the user's index.
pub(super) static DELETE: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(
        "local user = redis.call('HGET', KEYS[1], ARGV[1]) \
         redis.call('UNLINK', KEYS[1]) \
         return user",
    )
});

/// KEYS: the session. ARGV: the user field; the user's value (JSON). Deletes the session only if it
/// belongs to that user (1), else 0.
pub(super) static REVOKE: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(
        "if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end \
         redis.call('UNLINK', KEYS[1]) \
         return 1",
    )
});

/// KEYS: a user's index (a sorted set of session keys scored by expire-at). ARGV: the session key; its
/// expire-at (Unix ms); its milliseconds left. Adds or re-scores the session and keeps the index alive at
/// least as long as it, so an index outlives none of its sessions and no user's index outlives them all.
pub(super) static INDEX: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(
        "redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1]) \
         local left = redis.call('PTTL', KEYS[1]) \
         if left == -1 or left < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end \
         return 1",
    )
});
