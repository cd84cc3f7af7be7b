//! Decides at build time which tests can reach the services they need, so
//! that on a machine without them those tests show as ignored, with the
//! reason, instead of passing without having run (see README, "Test").

fn main() {
    for (variable, cfg) in [
        ("SVJ_TEST_REDIS_URL", "svj_test_redis"),
        ("SVJ_TEST_POSTGRES_URL", "svj_test_postgres"),
    ] {
        println!("cargo::rerun-if-env-changed={variable}");
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        if std::env::var(variable).is_ok_and(|url| !url.is_empty()) {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}
