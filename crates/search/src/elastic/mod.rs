//! The Elasticsearch 8 backend.
//!
//! Searches and writes go to an alias (`events` by default) that points at
//! one physical index, `events-v1-<alias>-<millis>`, created from the
//! `es-mappings/events-v1.json` index template. A rebuild fills a new
//! physical index and moves the alias in one `_aliases` call.

pub mod request;
pub mod response;

use async_trait::async_trait;
use elasticsearch::http::transport::Transport;
use elasticsearch::indices::{
    IndicesCreateParts, IndicesDeleteParts, IndicesGetAliasParts, IndicesGetMappingParts,
    IndicesPutIndexTemplateParts, IndicesPutMappingParts, IndicesRefreshParts,
};
use elasticsearch::{BulkParts, Elasticsearch, SearchParts};
use serde_json::{Value, json};

use crate::document::{IndexOp, collapse};
use crate::query::{SearchQuery, SearchResults, Suggestion};
use crate::{ApplyReport, SearchError, SearchIndex, suggest};

/// The index template (mappings and settings) this code writes to.
pub const TEMPLATE_NAME: &str = "events-v1";
/// Its JSON, from `es-mappings/`.
pub const TEMPLATE: &str = include_str!("../../../../es-mappings/events-v1.json");
/// Physical indices are `<prefix><alias>-<millis>`; the template matches the
/// prefix.
pub const INDEX_PREFIX: &str = "events-v1-";

/// The Elasticsearch backend.
#[derive(Debug, Clone)]
pub struct ElasticIndex {
    client: Elasticsearch,
    alias: String,
}

fn unavailable(e: elasticsearch::Error) -> SearchError {
    SearchError::Unavailable(format!("elasticsearch: {e}"))
}

async fn json_body(
    response: elasticsearch::http::response::Response,
    what: &str,
) -> Result<Value, SearchError> {
    let status = response.status_code();
    let body: Value = response.json().await.map_err(unavailable)?;
    if status.is_success() {
        Ok(body)
    } else if status.as_u16() == 404 {
        Err(SearchError::Unavailable(format!(
            "{what}: not found ({body})"
        )))
    } else {
        Err(SearchError::Backend(format!("{what}: {status}: {body}")))
    }
}

impl ElasticIndex {
    /// A client for the cluster at `url`, using the alias `alias`.
    pub fn new(url: &str, alias: &str) -> Result<Self, SearchError> {
        let transport = Transport::single_node(url)
            .map_err(|e| SearchError::Backend(format!("bad ES_URL {url}: {e}")))?;
        Ok(Self {
            client: Elasticsearch::new(transport),
            alias: alias.to_owned(),
        })
    }

    pub fn alias(&self) -> &str {
        &self.alias
    }

    /// Installs (or updates) the index template from `es-mappings/`.
    pub async fn apply_template(&self) -> Result<(), SearchError> {
        let template: Value = serde_json::from_str(TEMPLATE).map_err(SearchError::backend)?;
        let response = self
            .client
            .indices()
            .put_index_template(IndicesPutIndexTemplateParts::Name(TEMPLATE_NAME))
            .body(template)
            .send()
            .await
            .map_err(unavailable)?;
        json_body(response, "put index template").await.map(|_| ())
    }

    /// A new physical index name for this alias.
    pub fn new_index_name(&self) -> String {
        let millis = chrono::Utc::now().timestamp_millis();
        format!("{INDEX_PREFIX}{}-{millis}", self.alias)
    }

    /// Installs the template and points the alias at a new, empty index
    /// (replacing whatever it pointed at).
    pub async fn create_empty(&self) -> Result<String, SearchError> {
        self.apply_template().await?;
        let index = self.new_index_name();
        self.create_index(&index).await?;
        self.swap_alias(&index).await?;
        Ok(index)
    }

    /// Deletes the alias and every index behind it (tests clean up with it).
    pub async fn delete_all(&self) -> Result<(), SearchError> {
        let indices = self.aliased_indices().await?;
        let names: Vec<&str> = indices.iter().map(String::as_str).collect();
        if names.is_empty() {
            return Ok(());
        }
        let response = self
            .client
            .indices()
            .delete(IndicesDeleteParts::Index(&names))
            .send()
            .await
            .map_err(unavailable)?;
        json_body(response, "delete indices").await.map(|_| ())
    }

    /// Creates an empty physical index (the template gives it its mapping).
    pub async fn create_index(&self, name: &str) -> Result<(), SearchError> {
        let response = self
            .client
            .indices()
            .create(IndicesCreateParts::Index(name))
            .body(json!({}))
            .send()
            .await
            .map_err(unavailable)?;
        json_body(response, "create index").await.map(|_| ())
    }

    /// Physical indices the alias points at now.
    pub async fn aliased_indices(&self) -> Result<Vec<String>, SearchError> {
        let response = self
            .client
            .indices()
            .get_alias(IndicesGetAliasParts::Name(&[&self.alias]))
            .send()
            .await
            .map_err(unavailable)?;
        if response.status_code().as_u16() == 404 {
            return Ok(Vec::new());
        }
        let body = json_body(response, "get alias").await?;
        Ok(body
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default())
    }

    /// Writes `ops` into a named physical index (a rebuild's new index).
    pub async fn apply_to(&self, index: &str, ops: &[IndexOp]) -> Result<ApplyReport, SearchError> {
        if ops.is_empty() {
            return Ok(ApplyReport::default());
        }
        let lines = request::bulk_lines(index, ops);
        let response = self
            .client
            .bulk(BulkParts::None)
            .body(lines)
            .send()
            .await
            .map_err(unavailable)?;
        let body = json_body(response, "bulk").await?;
        response::bulk_report(&body)
    }

    pub async fn refresh(&self, index: &str) -> Result<(), SearchError> {
        let response = self
            .client
            .indices()
            .refresh(IndicesRefreshParts::Index(&[index]))
            .send()
            .await
            .map_err(unavailable)?;
        json_body(response, "refresh").await.map(|_| ())
    }

    /// Records `checkpoint` in the `_meta` of `index`'s mapping (the alias
    /// resolves to its one physical index), after a refresh.
    pub async fn record_checkpoint(
        &self,
        index: &str,
        checkpoint: &str,
    ) -> Result<(), SearchError> {
        self.refresh(index).await?;
        let response = self
            .client
            .indices()
            .put_mapping(IndicesPutMappingParts::Index(&[index]))
            .body(request::checkpoint_body(checkpoint))
            .send()
            .await
            .map_err(unavailable)?;
        json_body(response, "put mapping").await.map(|_| ())
    }

    /// Points the alias at `index` alone, atomically, and deletes the
    /// physical indices it pointed at before.
    pub async fn swap_alias(&self, index: &str) -> Result<(), SearchError> {
        let old = self.aliased_indices().await?;
        let mut actions: Vec<Value> = old
            .iter()
            .map(|i| json!({ "remove": { "index": i, "alias": self.alias } }))
            .collect();
        actions.push(
            json!({ "add": { "index": index, "alias": self.alias, "is_write_index": true } }),
        );
        let response = self
            .client
            .indices()
            .update_aliases()
            .body(json!({ "actions": actions }))
            .send()
            .await
            .map_err(unavailable)?;
        json_body(response, "update aliases").await?;
        let stale: Vec<&str> = old
            .iter()
            .map(String::as_str)
            .filter(|i| *i != index)
            .collect();
        if !stale.is_empty() {
            let response = self
                .client
                .indices()
                .delete(IndicesDeleteParts::Index(&stale))
                .send()
                .await
                .map_err(unavailable)?;
            json_body(response, "delete old indices").await?;
        }
        Ok(())
    }

    async fn search_json(&self, body: Value) -> Result<Value, SearchError> {
        let response = self
            .client
            .search(SearchParts::Index(&[&self.alias]))
            .body(body)
            .send()
            .await
            .map_err(unavailable)?;
        json_body(response, "search").await
    }
}

#[async_trait]
impl SearchIndex for ElasticIndex {
    async fn apply(&self, ops: Vec<IndexOp>) -> Result<ApplyReport, SearchError> {
        let ops = collapse(ops);
        let alias = self.alias.clone();
        self.apply_to(&alias, &ops).await
    }

    async fn commit(&self) -> Result<(), SearchError> {
        let alias = self.alias.clone();
        self.refresh(&alias).await
    }

    async fn commit_checkpoint(&self, checkpoint: &str) -> Result<(), SearchError> {
        let alias = self.alias.clone();
        self.record_checkpoint(&alias, checkpoint).await
    }

    async fn checkpoint(&self) -> Result<Option<String>, SearchError> {
        let response = self
            .client
            .indices()
            .get_mapping(IndicesGetMappingParts::Index(&[&self.alias]))
            .send()
            .await
            .map_err(unavailable)?;
        let body = json_body(response, "get mapping").await?;
        Ok(response::checkpoint(&body))
    }

    async fn search(&self, query: &SearchQuery) -> Result<SearchResults, SearchError> {
        let body = self.search_json(request::search_body(query)).await?;
        response::search_results(query, &body)
    }

    async fn suggest(&self, prefix: &str, limit: usize) -> Result<Vec<Suggestion>, SearchError> {
        if crate::text::terms(prefix).is_empty() {
            return Ok(Vec::new());
        }
        let body = self.search_json(request::suggest_body(prefix)).await?;
        let candidates = response::suggest_candidates(&body)?;
        Ok(suggest::rank(prefix, &candidates, limit))
    }

    async fn health(&self) -> Result<(), SearchError> {
        if self.aliased_indices().await?.is_empty() {
            return Err(SearchError::Unavailable(format!(
                "alias {} has no index yet; run `ticketctl search-rebuild`",
                self.alias
            )));
        }
        Ok(())
    }

    fn backend_name(&self) -> &'static str {
        "elasticsearch"
    }
}
