//! Which backend, from environment variables.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `SEARCH_BACKEND` | `tantivy` | `tantivy` (embedded) or `elasticsearch` |
//! | `SEARCH_INDEX_DIR` | `.local/search-index` | tantivy: the index root directory |
//! | `SEARCH_CACHE_ENTRIES` | `10000` | tantivy: results kept per index generation (0: off) |
//! | `ES_URL` | `http://127.0.0.1:9200` | elasticsearch: the cluster |
//! | `ES_INDEX` | `events` | elasticsearch: the alias searches and writes use |

use std::path::PathBuf;
use std::sync::Arc;

use service_kit::config::{ConfigError, EnvSource};

use crate::elastic::ElasticIndex;
use crate::rebuild::Target;
use crate::tantivy_backend::TantivyIndex;
use crate::{SearchError, SearchIndex};

/// The chosen backend and its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchConfig {
    Tantivy { dir: PathBuf, cache_entries: u64 },
    Elasticsearch { url: String, alias: String },
}

impl SearchConfig {
    pub fn from_env(env: &EnvSource) -> Result<Self, ConfigError> {
        match env.string_or("SEARCH_BACKEND", "tantivy").as_str() {
            "tantivy" => Ok(SearchConfig::Tantivy {
                dir: PathBuf::from(env.string_or("SEARCH_INDEX_DIR", ".local/search-index")),
                cache_entries: env.parse_or("SEARCH_CACHE_ENTRIES", 10_000)?,
            }),
            "elasticsearch" => {
                let url = env.string_or("ES_URL", "http://127.0.0.1:9200");
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(ConfigError {
                        var: "ES_URL",
                        reason: format!("{url:?} is not an http(s) URL"),
                    });
                }
                let alias = env.string_or("ES_INDEX", "events");
                if alias.is_empty()
                    || !alias
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_".contains(c))
                {
                    return Err(ConfigError {
                        var: "ES_INDEX",
                        reason: format!(
                            "{alias:?} is not a valid index name (lowercase, digits, - and _)"
                        ),
                    });
                }
                Ok(SearchConfig::Elasticsearch { url, alias })
            }
            other => Err(ConfigError {
                var: "SEARCH_BACKEND",
                reason: format!("{other:?} is neither \"tantivy\" nor \"elasticsearch\""),
            }),
        }
    }

    /// A handle for searching.
    pub fn open_reader(&self) -> Result<Arc<dyn SearchIndex>, SearchError> {
        Ok(match self {
            SearchConfig::Tantivy { dir, cache_entries } => Arc::new(
                TantivyIndex::open_reader_cached(dir.clone(), *cache_entries),
            ),
            SearchConfig::Elasticsearch { url, alias } => Arc::new(ElasticIndex::new(url, alias)?),
        })
    }

    /// A handle for searching and writing.
    pub fn open_writer(&self) -> Result<Arc<dyn SearchIndex>, SearchError> {
        Ok(match self {
            SearchConfig::Tantivy { dir, .. } => Arc::new(TantivyIndex::open_writer(dir.clone())?),
            SearchConfig::Elasticsearch { url, alias } => Arc::new(ElasticIndex::new(url, alias)?),
        })
    }

    /// Where a rebuild writes.
    pub fn rebuild_target(&self) -> Result<Target, SearchError> {
        Ok(match self {
            SearchConfig::Tantivy { dir, .. } => Target::Tantivy(dir.clone()),
            SearchConfig::Elasticsearch { url, alias } => {
                Target::Elastic(ElasticIndex::new(url, alias)?)
            }
        })
    }
}
