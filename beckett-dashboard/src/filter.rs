//! A checkpoint filter as a page's query and a form's fields carry it.

use beckett_core::state::{CheckpointFilter, CheckpointStatus};
use serde::{Deserialize, Deserializer, Serialize};

/// The conditions of a [`CheckpointFilter`], as text: a form's empty
/// field sets none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct FilterParams {
    #[serde(
        default,
        deserialize_with = "unless_empty",
        skip_serializing_if = "Option::is_none"
    )]
    pub group: Option<String>,
    #[serde(
        default,
        deserialize_with = "unless_empty",
        skip_serializing_if = "Option::is_none"
    )]
    pub subscription: Option<String>,
    #[serde(
        default,
        deserialize_with = "unless_empty",
        skip_serializing_if = "Option::is_none"
    )]
    pub status: Option<String>,
    #[serde(
        default,
        deserialize_with = "unless_empty",
        skip_serializing_if = "Option::is_none"
    )]
    pub stream: Option<String>,
    #[serde(
        default,
        deserialize_with = "unless_empty",
        skip_serializing_if = "Option::is_none"
    )]
    pub stream_prefix: Option<String>,
    #[serde(
        default,
        deserialize_with = "unless_empty",
        skip_serializing_if = "Option::is_none"
    )]
    pub error: Option<String>,
}

impl FilterParams {
    /// The filter; an error saying what is wrong with a status not known.
    pub fn filter(&self) -> Result<CheckpointFilter, String> {
        let status = self
            .status
            .as_deref()
            .map(str::parse::<CheckpointStatus>)
            .transpose()?;
        Ok(CheckpointFilter {
            group: self.group.clone(),
            subscription: self.subscription.clone(),
            stream: self.stream.clone(),
            stream_prefix: self.stream_prefix.clone(),
            status,
            error: self.error.clone(),
            reserved: None,
        })
    }

    /// The conditions as a query string, without the `?`.
    pub fn query(&self) -> String {
        serde_urlencoded::to_string(self).expect("strings encode")
    }

    /// The conditions set, as (field, value) pairs: a form's hidden fields.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        [
            ("group", &self.group),
            ("subscription", &self.subscription),
            ("status", &self.status),
            ("stream", &self.stream),
            ("stream_prefix", &self.stream_prefix),
            ("error", &self.error),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value.clone()?)))
        .collect()
    }

    /// The conditions as an operator reads them.
    pub fn describe(&self) -> String {
        let labels = self
            .fields()
            .into_iter()
            .map(|(name, value)| format!("{} {value:?}", name.replace('_', " ")))
            .collect::<Vec<_>>();
        match labels.is_empty() {
            true => "every checkpoint".to_owned(),
            false => labels.join(", "),
        }
    }
}

/// `None` for an absent or empty field.
fn unless_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let value = Option::<String>::deserialize(deserializer)?;
    Ok(value.filter(|v| !v.trim().is_empty()))
}

#[cfg(test)]
mod tests {
    use super::FilterParams;

    #[test]
    fn empty_fields_set_nothing() {
        let params: FilterParams =
            serde_urlencoded::from_str("group=Billing&status=&error=timed+out").unwrap();
        assert_eq!(params.query(), "group=Billing&error=timed+out");
        assert_eq!(params.describe(), "group \"Billing\", error \"timed out\"");
        let filter = params.filter().unwrap();
        assert_eq!(filter.status, None);
        assert!(FilterParams {
            status: Some("stuck".to_owned()),
            ..FilterParams::default()
        }
        .filter()
        .is_err());
    }
}
