//! The anchoring tables: the witnesses' co-signatures of the checkpoints the platform
//! proposed, and the checkpoints the Anchor contract on Ethereum holds.
//!
//! ```sql
//! anchor_cosignatures (height, tree_size integers >= 0, root 32 bytes (the checkpoint:
//!   block height, Merkle tree size and root), signer 20-byte Ethereum address (the
//!   witness), signature 65 bytes (its EIP-712 signature of the checkpoint), received_at_s)
//! anchorings (contract_index integer >= 0 (the checkpoint's index in the contract),
//!   height, tree_size integers >= 0, root 32 bytes, anchored_at_s,
//!   tx_hash 32 bytes or NULL, block_number or NULL, gas_used or NULL (the transaction that
//!   anchored it, when this platform sent it and saw its receipt))
//! ```
//!
//! A witness replays the blocks up to a checkpoint the platform proposed and sends its
//! co-signature; once enough authorities co-signed one checkpoint, the platform anchors it.
//! The primary key of `anchor_cosignatures` is (`height, tree_size, root, signer`): a
//! checkpoint's co-signatures are one range of it ([`cosignatures`]), a witness that signs
//! the same checkpoint again replaces its co-signature
//! ([`AnchoringWrite::Cosignature`]), and start reads the co-signatures of the checkpoints
//! not yet anchored past, in key order and page by page ([`cosignatures_from`]). The
//! co-signatures of checkpoints below the latest anchoring can no longer be used (the
//! contract only takes newer checkpoints), so they are purged
//! ([`AnchoringWrite::PurgeCosignaturesBelow`], a range of the same key): the table holds
//! the co-signatures of a few recent proposals.
//!
//! `anchorings` is the contract's list, kept whole: one row per anchoring (a few per hour),
//! keyed by its index in the contract (`contract_index`; `index` is a reserved word in
//! SQL). The index is the contract's, so an anchoring read back from the contract at start
//! finds its row, and writing it again leaves the row as it is ([`AnchoringWrite::Anchoring`]:
//! the row first written keeps the transaction this platform saw). The primary key serves
//! every query: one anchoring ([`anchoring`]), the latest ([`latest_anchoring`]) and the
//! list newest first ([`anchorings_page`]). [`anchoring_count`] counts the whole table (a
//! few tens of thousands of rows a year).
//!
//! Written once for both SQL backends through [`crate::tables::sql`]; the column types are
//! PostgreSQL's names (`bytea`, `bigint`, `text`), which SQLite reads as BLOB-like and
//! INTEGER. Heights, sizes and indexes are u64s in signed 64-bit columns: a value above
//! 2^63 - 1 is refused when written, and looked up it is found nowhere. Keyset cursors
//! compare row values (`(height, tree_size, root, signer) > (?, ?, ?, ?)`), which both
//! backends read as the primary key's order (blobs compare by their bytes).

use serde::{Deserialize, Serialize};

use crate::StoreError;
use crate::tables::sql::{self, Columns, Value};
use crate::tables::{Row, TableRead, TableTx};

/// Most rows one page query answers.
pub const ANCHORING_PAGE_MAX: usize = 1000;

macro_rules! tables {
    ($without_rowid:literal) => {
        concat!(
            "CREATE TABLE anchor_cosignatures (
                height bigint NOT NULL CHECK (height >= 0),
                tree_size bigint NOT NULL CHECK (tree_size >= 0),
                root bytea NOT NULL CHECK (length(root) = 32),
                signer bytea NOT NULL CHECK (length(signer) = 20),
                signature bytea NOT NULL CHECK (length(signature) = 65),
                received_at_s bigint NOT NULL,
                PRIMARY KEY (height, tree_size, root, signer)
            )",
            $without_rowid,
            ";
            CREATE TABLE anchorings (
                contract_index bigint PRIMARY KEY CHECK (contract_index >= 0),
                height bigint NOT NULL CHECK (height >= 0),
                tree_size bigint NOT NULL CHECK (tree_size >= 0),
                root bytea NOT NULL CHECK (length(root) = 32),
                anchored_at_s bigint NOT NULL,
                tx_hash bytea CHECK (tx_hash IS NULL OR length(tx_hash) = 32),
                block_number bigint CHECK (block_number IS NULL OR block_number >= 0),
                gas_used bigint CHECK (gas_used IS NULL OR gas_used >= 0)
            )",
            $without_rowid,
            ";"
        )
    };
}

/// The tables on SQLite (migration 13).
pub(crate) const SQLITE_TABLES: &str = tables!(" WITHOUT ROWID");
/// The tables on PostgreSQL (migration 13).
pub(crate) const POSTGRES_TABLES: &str = tables!("");

/// A witness's co-signature of a proposed checkpoint, as `anchor_cosignatures` holds it
/// (and as the platform's records held it: the serde form is theirs, the bytes in hex).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CosignatureRow {
    pub height: u64,
    pub tree_size: u64,
    #[serde(with = "hex::serde")]
    pub root: [u8; 32],
    /// The witness's Ethereum address.
    #[serde(with = "hex::serde")]
    pub signer: [u8; 20],
    /// Its EIP-712 signature of the checkpoint (r, s, v).
    #[serde(with = "hex::serde")]
    pub signature: [u8; 65],
    pub received_at_s: u64,
}

/// A checkpoint the Anchor contract holds, as `anchorings` holds it (and as the platform's
/// records held it: the serde form is theirs, `index` named so, the bytes in hex).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnchoringRow {
    /// Its index in the contract (the column `contract_index`).
    pub index: u64,
    pub height: u64,
    pub tree_size: u64,
    #[serde(with = "hex::serde")]
    pub root: [u8; 32],
    pub anchored_at_s: u64,
    /// The transaction that anchored it, when this platform sent it and saw its receipt.
    #[serde(default, with = "hex_option")]
    pub tx_hash: Option<[u8; 32]>,
    pub block_number: Option<u64>,
    pub gas_used: Option<u64>,
}

/// An optional 32-byte hash as a hex string or null (absent: null).
mod hex_option {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        value: &Option<[u8; 32]>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(bytes) => serializer.serialize_some(&hex::encode(bytes)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<[u8; 32]>, D::Error> {
        let Some(text) = Option::<String>::deserialize(deserializer)? else {
            return Ok(None);
        };
        let bytes = hex::decode(text).map_err(serde::de::Error::custom)?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| serde::de::Error::custom("expected 32 bytes"))?;
        Ok(Some(bytes))
    }
}

/// A change to the anchoring tables, written in the ledger's transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnchoringWrite {
    /// Inserts or replaces the co-signature (by checkpoint and signer).
    Cosignature(CosignatureRow),
    /// Inserts the anchoring; an existing index is left as it is (ON CONFLICT DO NOTHING).
    Anchoring(AnchoringRow),
    /// Deletes the co-signatures of checkpoints at heights below `height` (anchored past
    /// them).
    PurgeCosignaturesBelow { height: u64 },
}

/// The columns of `anchor_cosignatures` in the order [`cosignature_of`] reads them.
const COSIGNATURE_COLUMNS: &str = "height, tree_size, root, signer, signature, received_at_s";

/// The columns of `anchorings` in the order [`anchoring_of`] reads them.
const ANCHORING_COLUMNS: &str = "contract_index, height, tree_size, root, anchored_at_s,
    tx_hash, block_number, gas_used";

impl Row for AnchoringWrite {
    fn write(&self, tx: &mut TableTx<'_, '_>) -> Result<(), StoreError> {
        let (statement, params) = match self {
            AnchoringWrite::Cosignature(row) => (
                "INSERT INTO anchor_cosignatures (height, tree_size, root, signer, signature,
                    received_at_s) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (height, tree_size, root, signer) DO UPDATE SET
                    signature = excluded.signature, received_at_s = excluded.received_at_s",
                vec![
                    Value::uint(row.height)?,
                    Value::uint(row.tree_size)?,
                    Value::bytes(&row.root),
                    Value::bytes(&row.signer),
                    Value::bytes(&row.signature),
                    Value::uint(row.received_at_s)?,
                ],
            ),
            AnchoringWrite::Anchoring(row) => (
                "INSERT INTO anchorings (contract_index, height, tree_size, root,
                    anchored_at_s, tx_hash, block_number, gas_used)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (contract_index) DO NOTHING",
                vec![
                    Value::uint(row.index)?,
                    Value::uint(row.height)?,
                    Value::uint(row.tree_size)?,
                    Value::bytes(&row.root),
                    Value::uint(row.anchored_at_s)?,
                    Value::opt_bytes(row.tx_hash.as_ref().map(|hash| hash.as_slice())),
                    Value::opt_uint(row.block_number)?,
                    Value::opt_uint(row.gas_used)?,
                ],
            ),
            // Heights below 0: none. Beyond 2^63 every row is below: the bound saturates
            // (`<=` the height before, so a row at 2^63 - 1 goes too).
            AnchoringWrite::PurgeCosignaturesBelow { height } => {
                let Some(highest) = height.checked_sub(1) else {
                    return Ok(());
                };
                (
                    "DELETE FROM anchor_cosignatures WHERE height <= ?1",
                    vec![Value::bound(highest)],
                )
            }
        };
        sql::execute(tx, statement, &params)?;
        Ok(())
    }
}

/// A fixed-size byte column.
fn array<const N: usize>(columns: &mut Columns, what: &str) -> Result<[u8; N], StoreError> {
    columns
        .bytes()?
        .try_into()
        .map_err(|_| sql::corrupt(&format!("{what} is not {N} bytes")))
}

fn cosignature_of(mut columns: Columns) -> Result<CosignatureRow, StoreError> {
    Ok(CosignatureRow {
        height: columns.uint()?,
        tree_size: columns.uint()?,
        root: array(&mut columns, "a root")?,
        signer: array(&mut columns, "a signer")?,
        signature: array(&mut columns, "a signature")?,
        received_at_s: columns.uint()?,
    })
}

fn anchoring_of(mut columns: Columns) -> Result<AnchoringRow, StoreError> {
    let index = columns.uint()?;
    let height = columns.uint()?;
    let tree_size = columns.uint()?;
    let root = array(&mut columns, "a root")?;
    let anchored_at_s = columns.uint()?;
    let tx_hash = match columns.opt_bytes()? {
        Some(bytes) => Some(
            bytes
                .try_into()
                .map_err(|_| sql::corrupt("a transaction hash is not 32 bytes"))?,
        ),
        None => None,
    };
    Ok(AnchoringRow {
        index,
        height,
        tree_size,
        root,
        anchored_at_s,
        tx_hash,
        block_number: columns.opt_uint()?,
        gas_used: columns.opt_uint()?,
    })
}

fn cosignatures_of(rows: Vec<Columns>) -> Result<Vec<CosignatureRow>, StoreError> {
    rows.into_iter().map(cosignature_of).collect()
}

fn anchorings_of(rows: Vec<Columns>) -> Result<Vec<AnchoringRow>, StoreError> {
    rows.into_iter().map(anchoring_of).collect()
}

/// A height, size or index looked up: `None` above 2^63 - 1, where no row can be.
fn key(value: u64) -> Option<Value> {
    Value::uint(value).ok()
}

/// The co-signatures of one checkpoint, by signer.
pub fn cosignatures(
    read: &mut TableRead<'_>,
    height: u64,
    tree_size: u64,
    root: [u8; 32],
) -> Result<Vec<CosignatureRow>, StoreError> {
    let (Some(height), Some(tree_size)) = (key(height), key(tree_size)) else {
        return Ok(Vec::new());
    };
    let sql = format!(
        "SELECT {COSIGNATURE_COLUMNS} FROM anchor_cosignatures
         WHERE height = ?1 AND tree_size = ?2 AND root = ?3 ORDER BY signer"
    );
    let params = [height, tree_size, Value::bytes(&root)];
    cosignatures_of(sql::query(read, &sql, &params)?)
}

/// Co-signatures of checkpoints at heights >= `height`, in primary-key order (height,
/// tree_size, root, signer), strictly after `after` (the last row's (height, tree_size,
/// root, signer); `None`: from the first), at most `limit` (capped at
/// [`ANCHORING_PAGE_MAX`]).
pub fn cosignatures_from(
    read: &mut TableRead<'_>,
    height: u64,
    after: Option<(u64, u64, [u8; 32], [u8; 20])>,
    limit: usize,
) -> Result<Vec<CosignatureRow>, StoreError> {
    let Some(height) = key(height) else {
        return Ok(Vec::new());
    };
    let cursor = match after {
        // Below every row (heights and sizes are >= 0, an empty blob sorts first).
        None => [
            Value::Int(-1),
            Value::Int(-1),
            Value::Blob(Vec::new()),
            Value::Blob(Vec::new()),
        ],
        Some((after_height, tree_size, root, signer)) => {
            let Some(after_height) = key(after_height) else {
                // No row is above a height beyond 2^63 - 1.
                return Ok(Vec::new());
            };
            match key(tree_size) {
                Some(tree_size) => [
                    after_height,
                    tree_size,
                    Value::bytes(&root),
                    Value::bytes(&signer),
                ],
                // Above every row of that height: 33 bytes of 0xFF sort after every root.
                None => [
                    after_height,
                    Value::Int(i64::MAX),
                    Value::Blob(vec![0xFF; 33]),
                    Value::Blob(Vec::new()),
                ],
            }
        }
    };
    let sql = format!(
        "SELECT {COSIGNATURE_COLUMNS} FROM anchor_cosignatures
         WHERE height >= ?1 AND (height, tree_size, root, signer) > (?2, ?3, ?4, ?5)
         ORDER BY height, tree_size, root, signer LIMIT ?6"
    );
    let [after_height, tree_size, root, signer] = cursor;
    let params = [
        height,
        after_height,
        tree_size,
        root,
        signer,
        sql::limit(limit, ANCHORING_PAGE_MAX),
    ];
    cosignatures_of(sql::query(read, &sql, &params)?)
}

/// The anchoring with the highest index, if any.
pub fn latest_anchoring(read: &mut TableRead<'_>) -> Result<Option<AnchoringRow>, StoreError> {
    let sql =
        format!("SELECT {ANCHORING_COLUMNS} FROM anchorings ORDER BY contract_index DESC LIMIT 1");
    sql::query_one(read, &sql, &[])?
        .map(anchoring_of)
        .transpose()
}

/// The anchoring with this index in the contract.
pub fn anchoring(read: &mut TableRead<'_>, index: u64) -> Result<Option<AnchoringRow>, StoreError> {
    let Some(index) = key(index) else {
        return Ok(None);
    };
    let sql = format!("SELECT {ANCHORING_COLUMNS} FROM anchorings WHERE contract_index = ?1");
    sql::query_one(read, &sql, &[index])?
        .map(anchoring_of)
        .transpose()
}

/// Anchorings newest first (index descending), indexes below `before` (`None`: from the
/// newest), at most `limit` (capped at [`ANCHORING_PAGE_MAX`]).
pub fn anchorings_page(
    read: &mut TableRead<'_>,
    before: Option<u64>,
    limit: usize,
) -> Result<Vec<AnchoringRow>, StoreError> {
    // At most the index before the cursor; beyond 2^63 - 1 every index is: the bound
    // saturates. Nothing is below 0.
    let highest = match before {
        None => Value::Int(i64::MAX),
        Some(before) => match before.checked_sub(1) {
            Some(highest) => Value::bound(highest),
            None => return Ok(Vec::new()),
        },
    };
    let sql = format!(
        "SELECT {ANCHORING_COLUMNS} FROM anchorings WHERE contract_index <= ?1
         ORDER BY contract_index DESC LIMIT ?2"
    );
    anchorings_of(sql::query(
        read,
        &sql,
        &[highest, sql::limit(limit, ANCHORING_PAGE_MAX)],
    )?)
}

/// How many anchorings there are.
pub fn anchoring_count(read: &mut TableRead<'_>) -> Result<u64, StoreError> {
    let sql = "SELECT CAST(count(*) AS BIGINT) FROM anchorings";
    match sql::query_one(read, sql, &[])? {
        Some(mut columns) => columns.uint(),
        None => Ok(0),
    }
}
