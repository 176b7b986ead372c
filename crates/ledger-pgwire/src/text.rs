//! Values in PostgreSQL's text format, both ways.

use bytes::{BufMut, BytesMut};
use ledger::ports::{DbError, Value};
use postgres_protocol::IsNull;

/// Writes a parameter; the server parses it as the type it infers.
pub fn encode(value: &Value, buf: &mut BytesMut) -> IsNull {
    match value {
        Value::Null => return IsNull::Yes,
        Value::Int(i) => buf.put_slice(i.to_string().as_bytes()),
        Value::Real(f) => buf.put_slice(f.to_string().as_bytes()),
        Value::Bool(b) => buf.put_slice(if *b { b"t" } else { b"f" }),
        Value::Text(s) | Value::Json(s) => buf.put_slice(s.as_bytes()),
    }
    IsNull::No
}

// Type OIDs from pg_type.
const BOOL: u32 = 16;
const INT8: u32 = 20;
const INT2: u32 = 21;
const INT4: u32 = 23;
const OID: u32 = 26;
const JSON: u32 = 114;
const FLOAT4: u32 = 700;
const FLOAT8: u32 = 701;
const VOID: u32 = 2278;
const JSONB: u32 = 3802;

/// Reads a column value by its type; types without a closer match stay text.
pub fn decode(type_oid: u32, bytes: &[u8]) -> Result<Value, DbError> {
    let text = std::str::from_utf8(bytes).map_err(|e| DbError::Decode(e.to_string()))?;
    let invalid = |what: &str| DbError::Decode(format!("invalid {what} `{text}`"));
    Ok(match type_oid {
        BOOL => Value::Bool(text == "t"),
        INT2 | INT4 | INT8 | OID => Value::Int(text.parse().map_err(|_| invalid("integer"))?),
        FLOAT4 | FLOAT8 => Value::Real(text.parse().map_err(|_| invalid("float"))?),
        JSON | JSONB => Value::Json(text.to_owned()),
        VOID => Value::Null,
        _ => Value::Text(text.to_owned()),
    })
}

/// The row count in a CommandComplete tag (`INSERT 0 3`, `UPDATE 2`, …);
/// zero for commands that have none.
pub fn affected_rows(tag: &str) -> u64 {
    let mut words = tag.split_whitespace();
    match words.next() {
        Some("INSERT" | "UPDATE" | "DELETE" | "SELECT" | "MERGE" | "MOVE" | "FETCH" | "COPY") => {
            words.last().and_then(|n| n.parse().ok()).unwrap_or(0)
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_through_text() {
        let mut buf = BytesMut::new();
        for v in [Value::Int(-42), Value::Real(0.1), Value::Real(f64::INFINITY), Value::Bool(true)] {
            buf.clear();
            assert!(matches!(encode(&v, &mut buf), IsNull::No));
            let oid = match v {
                Value::Int(_) => INT8,
                Value::Real(_) => FLOAT8,
                _ => BOOL,
            };
            assert_eq!(decode(oid, &buf).unwrap(), v);
        }
        assert!(matches!(encode(&Value::Null, &mut buf), IsNull::Yes));
        assert_eq!(decode(FLOAT8, b"-Infinity").unwrap(), Value::Real(f64::NEG_INFINITY));
        assert_eq!(decode(JSONB, br#"{"a": 1}"#).unwrap(), Value::Json(r#"{"a": 1}"#.into()));
        assert_eq!(
            decode(2950, b"0190c1e2-0000-7000-8000-000000000000").unwrap(),
            Value::Text("0190c1e2-0000-7000-8000-000000000000".into())
        );
        assert!(decode(INT4, b"x").is_err());
    }

    #[test]
    fn counts_rows_from_command_tags() {
        assert_eq!(affected_rows("INSERT 0 3"), 3);
        assert_eq!(affected_rows("UPDATE 2"), 2);
        assert_eq!(affected_rows("SELECT 10"), 10);
        assert_eq!(affected_rows("BEGIN"), 0);
        assert_eq!(affected_rows("CREATE TABLE"), 0);
    }
}
