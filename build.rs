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
                PathBuf::from("proto/google/rpc/status.proto"),
            ],
            &[PathBuf::from("proto"), well_known],
        )?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
