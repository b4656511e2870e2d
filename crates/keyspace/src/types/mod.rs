//! The collection types (hash, list, set, sorted set) as plain Rust APIs, each with a compact
//! small form and a large form, converting at the thresholds Redis uses (`TypeLimits`). Command
//! families reach the encodings only through these APIs.

pub mod hash;
pub mod list;
pub mod set;
pub mod stream;
pub mod zset;

/// The conversion thresholds of the collection encodings (Redis's `*-max-*` directives).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TypeLimits {
    /// `hash-max-listpack-entries`
    pub hash_max_listpack_entries: usize,
    /// `hash-max-listpack-value`
    pub hash_max_listpack_value: usize,
    /// `list-max-listpack-size`: positive = entries per node, -1..-5 = 4/8/16/32/64 KiB per node.
    pub list_max_listpack_size: i64,
    /// `set-max-intset-entries`
    pub set_max_intset_entries: usize,
    /// `zset-max-listpack-entries`
    pub zset_max_listpack_entries: usize,
    /// `zset-max-listpack-value`
    pub zset_max_listpack_value: usize,
    /// `hll-sparse-max-bytes`: a sparse HyperLogLog larger than this turns dense.
    pub hll_sparse_max_bytes: usize,
    /// `stream-node-max-bytes`: a stream node's listpack stops growing at this size (0: 1 GB).
    pub stream_node_max_bytes: usize,
    /// `stream-node-max-entries`: entries (live + deleted) per stream node (0: no limit).
    pub stream_node_max_entries: i64,
}

impl Default for TypeLimits {
    /// Redis 7.0's defaults.
    fn default() -> Self {
        TypeLimits {
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            list_max_listpack_size: -2,
            set_max_intset_entries: 512,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            hll_sparse_max_bytes: 3000,
            stream_node_max_bytes: 4096,
            stream_node_max_entries: 100,
        }
    }
}
