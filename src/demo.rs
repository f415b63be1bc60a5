//! (in progress)
/// Runs the demo.
pub async fn run() -> Result<(), String> {
    Ok(())
}
