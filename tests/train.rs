//! Release trains (several images in one `gantry promote`) against real registries, with a
//! recording proxy before the source: what each image asks of it, and what the train
//! leaves behind (exact digests, both tags, the tag cache written once for all).

mod common;

use common::faults::FaultProxy;
use common::{code, registries, stderr, Case};

/// Pushes `count` small images (`sha-7b7b7b7` and `latest`) of services `t-<name>-<i>` to
/// dev and writes a config promoting them from dev (behind `proxy`) to prod.
fn train(case: &Case, name: &str, count: usize, proxy: &FaultProxy) -> Vec<(String, String)> {
    let regs = registries();
    let mut images = Vec::new();
    for i in 0..count {
        let service = format!("t-{name}-{i}");
        let digest = gantry::sandbox::push_sized_image(
            regs.dev.addr(),
            &service,
            &["sha-7b7b7b7".to_string(), "latest".to_string()],
            64 * 1024,
            0x7b00 + i as u64,
        )
        .expect("push");
        images.push((service, digest));
    }
    let mut config = format!(
        "[git]\npath = \"no-repository\"\n\n[ledger]\nenabled = false\n\n\
         [[environment]]\nname = \"dev\"\nregistry = \"{}\"\nplain_http = true\nmutable_tag = \"latest\"\n\n\
         [[environment]]\nname = \"target\"\nregistry = \"{}\"\nplain_http = true\nmutable_tag = \"target\"\nfrom = \"dev\"\n",
        proxy.addr,
        regs.prod.addr()
    );
    for (service, _) in &images {
        config.push_str(&format!("\n[[service]]\nname = \"{service}\"\n"));
    }
    std::fs::write(&case.config, config).expect("write config");
    images
}

fn promote_all(case: &Case, images: &[(String, String)]) -> std::process::Output {
    let names: Vec<String> = images
        .iter()
        .map(|(service, _)| format!("{service}:sha-7b7b7b7"))
        .collect();
    let mut args = vec!["promote"];
    args.extend(names.iter().map(String::as_str));
    args.extend(["--to", "target"]);
    case.gantry(&args)
}

#[test]
fn a_train_probes_the_referrers_api_once_and_reads_no_signature_the_source_lacks() {
    let case = Case::new("train-requests");
    let regs = registries();
    let proxy = FaultProxy::start(regs.dev.addr(), Vec::new());
    let images = train(&case, "probe", 6, &proxy);

    let out = promote_all(&case, &images);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    for (service, digest) in &images {
        let at = |tag: &str| {
            gantry::sandbox::skopeo_digest(&format!("{}/{service}:{tag}", regs.prod.addr()), None)
                .expect("digest")
        };
        assert_eq!(&at("sha-7b7b7b7"), digest, "{service}");
        assert_eq!(&at("target"), digest, "{service}");
    }

    let requests = proxy.requests();
    let count = |wanted: &dyn Fn(&str, &str) -> bool| {
        requests
            .iter()
            .filter(|(method, path)| wanted(method, path))
            .count()
    };
    // Distribution 2.8 has no referrers API: six images asking at once share one probe.
    assert_eq!(
        count(&|_, path| path.contains("/referrers/")),
        1,
        "{requests:?}"
    );
    // No source lists a `.sig` tag and the target does not sign: no `.sig` is read.
    assert_eq!(count(&|_, path| path.contains(".sig")), 0, "{requests:?}");
    // One tag listing per image tells both the attachments and the signatures.
    assert_eq!(
        count(&|method, path| method == "GET" && path.contains("/tags/list")),
        images.len(),
        "{requests:?}"
    );

    // What the train wrote is in the tag cache, saved once when the last image ended.
    let caches: Vec<_> = std::fs::read_dir(case.dir.path().join("state/gantry/tag-cache"))
        .expect("the tag cache directory")
        .filter_map(Result::ok)
        .map(|entry| std::fs::read_to_string(entry.path()).unwrap_or_default())
        .collect();
    for (service, digest) in &images {
        assert!(
            caches
                .iter()
                .any(|text| text.contains(service.as_str()) && text.contains(digest.as_str())),
            "{service} is not in the tag cache"
        );
    }
}
