//! Reading a request object field by field, for the routes whose requests are checked that way
//! (embeddings, images): each error names the exact field.

use serde_json::{Map, Value};

use crate::error::{GatewayError, Result};

/// A string field; absent or `null` is `None`, another type is a 400 naming it.
pub(crate) fn string_field(obj: &Map<String, Value>, name: &str) -> Result<Option<String>> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(GatewayError::invalid_param(
            name,
            format!("{name} must be a string"),
        )),
    }
}

/// A 400 naming the first field not in `known` (`what` says for what).
pub(crate) fn refuse_unknown(obj: &Map<String, Value>, known: &[&str], what: &str) -> Result<()> {
    match obj.keys().find(|k| !known.contains(&k.as_str())) {
        Some(field) => Err(GatewayError::invalid_param(
            field,
            format!(
                "`{field}` is not supported {what} (edgeport reads {})",
                known.join(", ")
            ),
        )),
        None => Ok(()),
    }
}

/// `model`, required.
pub(crate) fn model(obj: &Map<String, Value>) -> Result<String> {
    string_field(obj, "model")?.ok_or_else(|| {
        GatewayError::invalid_param(
            "model",
            "model is required (the provider's model id, or @slug/model-id)",
        )
    })
}
