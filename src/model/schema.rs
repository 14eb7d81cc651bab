//! Schemas: body templates with their content type, and what a client writes.

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{check_name, new_id, now_rfc3339, FieldError};

/// Largest schema template.
pub const MAX_SCHEMA_CONTENT_BYTES: usize = 256 * 1024;

/// The body format of a schema; decides escaping and the Content-Type of deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ContentType {
    Text,
    Json,
    Xml,
}

impl ContentType {
    /// The `Content-Type` header a delivery of this schema carries.
    ///
    /// ```
    /// use hookline::model::ContentType;
    /// assert_eq!(ContentType::Json.media_type(), "application/json");
    /// assert_eq!(ContentType::Xml.media_type(), "application/xml; charset=utf-8");
    /// ```
    pub fn media_type(self) -> &'static str {
        match self {
            ContentType::Text => "text/plain; charset=utf-8",
            ContentType::Json => "application/json",
            ContentType::Xml => "application/xml; charset=utf-8",
        }
    }
}

/// A schema: a body template and its content type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Schema {
    pub id: String,
    pub name: String,
    pub content_type: ContentType,
    pub content: String,
    pub created_at: String,
    pub updated_at: String,
}

/// The body of `POST`/`PUT /api/v1/schemas`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SchemaInput {
    #[schema(min_length = 1, max_length = 200, pattern = r"^[^\x00-\x1F\x7F]+$")]
    pub name: String,
    pub content_type: ContentType,
    pub content: String,
    #[serde(default)]
    #[schema(ignore)]
    pub id: Option<IgnoredAny>,
    #[serde(default)]
    #[schema(ignore)]
    pub created_at: Option<IgnoredAny>,
    #[serde(default)]
    #[schema(ignore)]
    pub updated_at: Option<IgnoredAny>,
}

impl SchemaInput {
    /// Validates the single values and builds the record (`previous` on `PUT`).
    pub fn into_schema(self, previous: Option<&Schema>) -> Result<Schema, FieldError> {
        check_name("name", &self.name)?;
        if self.content.len() > MAX_SCHEMA_CONTENT_BYTES {
            return Err(FieldError::new("content", "at most 256 KiB"));
        }
        let now = now_rfc3339();
        Ok(Schema {
            id: previous.map_or_else(|| new_id("sc"), |p| p.id.clone()),
            name: self.name,
            content_type: self.content_type,
            content: self.content,
            created_at: previous.map_or_else(|| now.clone(), |p| p.created_at.clone()),
            updated_at: now,
        })
    }
}
