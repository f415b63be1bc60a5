//! Compiles the v1 contract in `proto/` so that the wire types can never drift from the
//! .proto files that conformance suites read. protoc comes from `protoc-bin-vendored`, so a
//! fresh machine needs nothing installed; a `PROTOC` variable still wins, for platforms the
//! vendored binaries do not cover.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os("PROTOC").is_none() {
        let protoc = protoc_bin_vendored::protoc_bin_path()?;
        // SAFETY: build scripts are single-threaded; nothing else reads the environment here.
        unsafe { std::env::set_var("PROTOC", protoc) };
    }
    let well_known = protoc_bin_vendored::include_path()?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);

    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("aedgate_descriptor.bin"))
        .codec_path("crate::wire::WireCodec")
        .generate_default_stubs(true)
        .bytes(".")
        .compile_protos(
            &[
                PathBuf::from("proto/aedgate/v1/aedgate.proto"),
                PathBuf::from("proto/aedgate/ops/v1/outbox.proto"),
                PathBuf::from("proto/google/rpc/status.proto"),
            ],
            &[PathBuf::from("proto"), well_known],
        )?;

    // The Gateway server is generated a second time, by hand, so that Submit and
    // SubmitStream receive each envelope's raw bytes with its decoding result: an
    // undecodable envelope then gets the contract's MALFORMED answer (and a stream goes on
    // after it) instead of tonic's INTERNAL, and the exact bytes received are what is stored.
    let method = |name: &str, route: &str, input: &str, output: &str, codec: &str| {
        tonic_build::manual::Method::builder()
            .name(name)
            .route_name(route)
            .input_type(input)
            .output_type(output)
            .codec_path(codec)
    };
    let received = "crate::wire::Received<crate::proto::v1::Envelope>";
    let gateway = tonic_build::manual::Service::builder()
        .name("Gateway")
        .package("aedgate.v1")
        .method(
            method(
                "submit",
                "Submit",
                received,
                "crate::proto::v1::Receipt",
                "crate::wire::ReceivingCodec",
            )
            .build(),
        )
        .method(
            method(
                "submit_stream",
                "SubmitStream",
                received,
                "crate::proto::v1::SubmitResult",
                "crate::wire::ReceivingCodec",
            )
            .client_streaming()
            .server_streaming()
            .build(),
        )
        .method(
            method(
                "fetch",
                "Fetch",
                "crate::proto::v1::FetchRequest",
                "crate::proto::v1::Delivery",
                "crate::wire::WireCodec",
            )
            .server_streaming()
            .build(),
        )
        .method(
            method(
                "status",
                "Status",
                "crate::proto::v1::StatusRequest",
                "crate::proto::v1::StatusResponse",
                "crate::wire::WireCodec",
            )
            .build(),
        )
        .build();
    tonic_build::manual::Builder::new()
        .build_client(false)
        .out_dir(&out_dir)
        .compile(&[gateway]);
    println!("cargo:rerun-if-changed=proto");
    // sqlx::migrate! embeds these; a changed migration must rebuild the crate.
    println!("cargo:rerun-if-changed=src/store/migrations");
    Ok(())
}
