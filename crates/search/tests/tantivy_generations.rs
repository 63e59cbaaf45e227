//! The tantivy backend's directory of generations.

use search::SearchIndex;
use search::tantivy_backend::TantivyIndex;
use tantivy::schema::{STORED, Schema, TEXT};

#[tokio::test]
async fn an_index_built_with_another_schema_is_unavailable_until_rebuilt() {
    let root = tempfile::tempdir().expect("dir");
    // What an older version of this code might have left behind.
    let mut b = Schema::builder();
    b.add_text_field("title", TEXT | STORED);
    std::fs::create_dir(root.path().join("gen-1")).expect("gen dir");
    tantivy::Index::create_in_dir(root.path().join("gen-1"), b.build()).expect("old index");
    std::os::unix::fs::symlink("gen-1", root.path().join("current")).expect("symlink");

    let reader = TantivyIndex::open_reader(root.path());
    let health = reader.health().await;
    assert!(
        matches!(health, Err(search::SearchError::Unavailable(_))),
        "{health:?}"
    );

    // A rebuild publishes a usable generation and the same reader follows it.
    TantivyIndex::rebuild_from(root.path(), std::iter::empty(), 1, None).expect("rebuild");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while reader.health().await.is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the reader never followed the rebuild"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        reader
            .search(&search::SearchQuery::all())
            .await
            .expect("search")
            .total,
        0
    );
}
