//! The fragment cache's checks.

use super::*;

#[test]
fn django_key_vectors() {
    let x = "x".repeat(10_000);
    let cases: [(&str, Vec<&(dyn Display + Sync)>, &str); 7] = [
        ("a.fragment", vec![], "d41d8cd98f00b204e9800998ecf8427e"),
        ("foo", vec![&"abc"], "493e283d571a73056196f1a68efd0f66"),
        (
            "bar",
            vec![&"abc", &"def"],
            "17c1a507a0cb58384f4c639067a93520",
        ),
        (
            "spam",
            vec![&"abc:def%"],
            "06c8ae8e8c430b69fb0a6443504153dc",
        ),
        (
            "foo",
            vec![&1, &2, &3, &4, &5],
            "7ae8fd2e0d25d651c683bdeebdb29461",
        ),
        (
            "foo",
            vec![&"42º", &"😀"],
            "7ced1c94e543668590ba39b3c08b0237",
        ),
        ("foo", vec![&x], "3670b349b5124aa56bdb50678b02b23a"),
    ];
    for (name, vary_on, hex) in cases {
        assert_eq!(
            make_fragment_key(name, &vary_on),
            format!("template.cache.{name}.{hex}")
        );
    }
}

#[cfg(feature = "memory")]
mod with_memory {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use super::super::*;
    use crate::backends::MemoryBackend;

    fn fragments() -> FragmentCache {
        FragmentCache::new(Cache::new(MemoryBackend::new()))
    }

    #[tokio::test]
    async fn renders_once_then_hits() {
        let f = fragments();
        let calls = AtomicUsize::new(0);
        for _ in 0..3 {
            let html = f
                .get_or_render("sidebar", &[&7, &"en"], Duration::from_secs(60), || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    "<aside/>".to_owned()
                })
                .await;
            assert_eq!(html, "<aside/>");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(
            f.get("sidebar", &[&7, &"en"])
                .await
                .ok()
                .flatten()
                .as_deref(),
            Some("<aside/>")
        );
        assert_eq!(
            f.get("sidebar", &[&8, &"en"]).await.ok().flatten(),
            None,
            "vary-on values key apart"
        );
        let stored = f
            .cache()
            .get_bytes(&make_fragment_key("sidebar", &[&7, &"en"]))
            .await;
        assert_eq!(
            stored.ok().flatten().as_deref(),
            Some(&b"<aside/>"[..]),
            "stored as raw UTF-8"
        );
    }

    #[tokio::test]
    async fn invalidate_forces_a_render() {
        let f = fragments();
        let render = |text: &'static str| move || async move { text.to_owned() };
        assert_eq!(
            f.get_or_render("nav", &[], Timeout::Never, render("one"))
                .await,
            "one"
        );
        assert_eq!(
            f.get_or_render("nav", &[], Timeout::Never, render("two"))
                .await,
            "one"
        );
        assert!(matches!(f.invalidate("nav", &[]).await, Ok(true)));
        assert_eq!(
            f.get_or_render("nav", &[], Timeout::Never, render("three"))
                .await,
            "three"
        );
    }

    #[tokio::test]
    async fn zero_timeout_always_renders() {
        let f = fragments();
        let a = f
            .get_or_render("z", &[], Duration::ZERO, || async { "a".to_owned() })
            .await;
        let b = f
            .get_or_render("z", &[], Duration::ZERO, || async { "b".to_owned() })
            .await;
        assert_eq!((a.as_str(), b.as_str()), ("a", "b"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_renders_are_coalesced() {
        let f = fragments();
        let calls = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let f = f.clone();
                let calls = Arc::clone(&calls);
                tokio::spawn(async move {
                    f.get_or_render("slow", &[&1], Duration::from_secs(60), || async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        "rendered".to_owned()
                    })
                    .await
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.ok().as_deref(), Some("rendered"));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn non_utf8_values_are_rerendered_and_replaced() {
        let f = fragments();
        let key = make_fragment_key("bad", &[]);
        assert!(f.cache().set_bytes(&key, &b"\xff\xfe"[..]).await.is_ok());
        let html = f
            .get_or_render("bad", &[], Duration::from_secs(60), || async {
                "fixed".to_owned()
            })
            .await;
        assert_eq!(html, "fixed");
        assert_eq!(
            f.get("bad", &[]).await.ok().flatten().as_deref(),
            Some("fixed")
        );
    }
}

mod failing {
    use super::super::*;
    use crate::backend::{CacheBackend, Expiry};
    use async_trait::async_trait;

    /// A backend that always fails: the fragment cache must render anyway.
    struct Down;

    #[async_trait]
    impl CacheBackend for Down {
        fn name(&self) -> &'static str {
            "down"
        }
        async fn get(&self, _: &str) -> Result<Option<Bytes>> {
            Err(crate::Error::backend("down", "unreachable"))
        }
        async fn set(&self, _: &str, _: Bytes, _: Expiry) -> Result<()> {
            Err(crate::Error::backend("down", "unreachable"))
        }
        async fn add(&self, _: &str, _: Bytes, _: Expiry) -> Result<bool> {
            Err(crate::Error::backend("down", "unreachable"))
        }
        async fn delete(&self, _: &str) -> Result<bool> {
            Err(crate::Error::backend("down", "unreachable"))
        }
        async fn touch(&self, _: &str, _: Expiry) -> Result<bool> {
            Err(crate::Error::backend("down", "unreachable"))
        }
        async fn incr(&self, _: &str, _: i64) -> Result<i64> {
            Err(crate::Error::backend("down", "unreachable"))
        }
        async fn has_key(&self, _: &str) -> Result<bool> {
            Err(crate::Error::backend("down", "unreachable"))
        }
        async fn clear(&self) -> Result<()> {
            Err(crate::Error::backend("down", "unreachable"))
        }
    }

    #[tokio::test]
    async fn a_failing_backend_renders_anyway() {
        let f = FragmentCache::new(Cache::new(Down));
        let html = f
            .get_or_render("x", &[], Timeout::Default, || async { "live".to_owned() })
            .await;
        assert_eq!(html, "live");
        assert!(f.invalidate("x", &[]).await.is_err());
    }
}
