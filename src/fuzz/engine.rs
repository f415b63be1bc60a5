//! The loop that runs one target: pick an input from the corpus, mutate it, run the
//! decoder under `catch_unwind`, keep the input if it produced an outcome not seen before,
//! save it if it panicked.
//!
//! Feedback is by outcome, not by coverage (coverage instrumentation needs a nightly
//! compiler): every target names what happened to an input (`invalid:items[].hs_code`,
//! `trust:inconsistent:...`), digits and quoted values stripped, and an input whose outcome
//! is new joins the corpus, so that mutations build on inputs that got further.

use std::cell::{Cell, RefCell};
use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::{Duration, Instant};

use super::mutate::{havoc, Rng};
use super::targets::Target;

/// What a target made of one input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The input got past the first parse (its bytes were a protobuf message, JSON or TOML
    /// of the form, a signed envelope that decoded) and reached the checks behind it.
    pub deep: bool,
    /// What happened, for people and for the corpus's novelty test.
    pub label: String,
}

impl Outcome {
    /// An input refused by the first parse.
    pub fn shallow(label: impl Into<String>) -> Self {
        Self {
            deep: false,
            label: label.into(),
        }
    }

    /// An input that reached the checks behind the first parse.
    pub fn deep(label: impl Into<String>) -> Self {
        Self {
            deep: true,
            label: label.into(),
        }
    }
}

/// How long and how to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Executions of the target.
    pub execs: u64,
    /// Seed of the mutation RNG (mixed with the target's name).
    pub seed: u64,
    /// Where a panicking input is written.
    pub crash_dir: PathBuf,
    /// Print a progress line to stderr every this often (`None`: quiet).
    pub progress: Option<Duration>,
    /// Most entries the corpus grows to (seeds included).
    pub max_corpus: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            execs: 10_000,
            seed: 1,
            crash_dir: PathBuf::from("target/fuzz-crashes"),
            progress: None,
            max_corpus: 512,
        }
    }
}

/// One distinct panic: where it happened, how often, and the first input that caused it.
#[derive(Clone, Debug)]
pub struct Crash {
    /// The panic message with its location.
    pub message: String,
    /// How many inputs panicked this way.
    pub count: u64,
    /// The saved input, or why it could not be saved.
    pub saved: Result<PathBuf, String>,
}

/// What a run of one target did.
#[derive(Clone, Debug)]
pub struct Report {
    /// The target.
    pub target: &'static str,
    /// Inputs run.
    pub execs: u64,
    /// Of which got past the first parse.
    pub deep: u64,
    /// Distinct outcomes seen.
    pub outcomes: usize,
    /// Corpus size at the end (seeds included).
    pub corpus: usize,
    /// Distinct panics.
    pub crashes: Vec<Crash>,
    /// Wall time.
    pub elapsed: Duration,
    /// The slowest single execution.
    pub slowest: Duration,
}

impl Report {
    /// Total panicking inputs.
    pub fn crash_count(&self) -> u64 {
        self.crashes.iter().map(|c| c.count).sum()
    }

    /// Executions per second.
    pub fn rate(&self) -> f64 {
        self.execs as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

thread_local! {
    static CATCHING: Cell<bool> = const { Cell::new(false) };
    static CAUGHT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs, once per process, a panic hook that records the message of a panic inside a
/// target (instead of printing a backtrace per input) and leaves every other panic to the
/// hook that was there before.
fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if CATCHING.with(Cell::get) {
                CAUGHT.with(|c| *c.borrow_mut() = Some(info.to_string()));
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs the target once on `input`; a panic comes back as its message.
pub fn run_once(target: &Target, input: &[u8]) -> Result<Outcome, String> {
    install_hook();
    CATCHING.with(|c| c.set(true));
    let result = panic::catch_unwind(AssertUnwindSafe(|| target.run(input)));
    CATCHING.with(|c| c.set(false));
    result.map_err(|payload| {
        CAUGHT
            .with(|c| c.borrow_mut().take())
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic without a message".to_owned())
    })
}

/// Strips what varies from input to input without meaning another path was taken: digits,
/// quoted values (with their escapes in double quotes; serde writes names in backticks
/// raw, so a name holding a backtick turns the quoting inside out), ids, paths, and words
/// longer than 32 bytes or with a character other than letters, digits and `_.,:;-()[]=`;
/// and keeps at most the first 16 words, so that a message that quotes mutated text does not
/// make every input look new.
pub fn normalize(label: &str) -> String {
    let mut out = String::with_capacity(label.len());
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in label.chars() {
        match quote {
            Some(_) if escaped => escaped = false,
            Some('"') if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if matches!(c, '`' | '"') => {
                quote = Some(c);
                out.push('_');
            }
            None if c.is_ascii_digit() => {}
            None => out.push(c),
        }
    }
    out.split_whitespace()
        .filter(|word| {
            word.len() <= 32
                && word
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.,:;-()[]=".contains(c))
        })
        .take(16)
        .collect::<Vec<_>>()
        .join(" ")
}

fn hash_of(text: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

/// Writes a panicking input where it can be replayed from: `<dir>/<target>-<hash>.bin`.
fn save(dir: &Path, target: &str, input: &[u8]) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut hasher = DefaultHasher::new();
    input.hash(&mut hasher);
    let path = dir.join(format!("{target}-{:016x}.bin", hasher.finish()));
    std::fs::write(&path, input).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

/// Runs `target` for `options.execs` executions. Every seed runs first, unmutated.
pub fn fuzz(target: &Target, options: &Options) -> Report {
    let started = Instant::now();
    let mut rng = Rng::new(options.seed ^ hash_of(target.name));
    let mut corpus: Vec<Vec<u8>> = target.seeds().to_vec();
    if corpus.is_empty() {
        corpus.push(Vec::new());
    }
    let seeds = corpus.len();
    let mut seen: HashSet<u64> = HashSet::new();
    let mut crash_sites: Vec<(String, Crash)> = Vec::new();
    let mut report = Report {
        target: target.name,
        execs: 0,
        deep: 0,
        outcomes: 0,
        corpus: 0,
        crashes: Vec::new(),
        elapsed: Duration::ZERO,
        slowest: Duration::ZERO,
    };
    let mut next_progress = options.progress.map(|every| started + every);
    while report.execs < options.execs {
        let input = if (report.execs as usize) < seeds {
            corpus[report.execs as usize].clone()
        } else {
            let choice = rng.below(8);
            let parent = &corpus[rng.below(corpus.len())];
            let donor = &corpus[rng.below(corpus.len())];
            match choice {
                0..=4 => target
                    .mutate(&mut rng, parent, donor)
                    .unwrap_or_else(|| havoc(&mut rng, parent, donor, target)),
                5 | 6 => havoc(&mut rng, parent, donor, target),
                _ => {
                    let first = target
                        .mutate(&mut rng, parent, donor)
                        .unwrap_or_else(|| parent.clone());
                    havoc(&mut rng, &first, donor, target)
                }
            }
        };
        let began = Instant::now();
        let result = run_once(target, &input);
        report.slowest = report.slowest.max(began.elapsed());
        report.execs += 1;
        match result {
            Ok(outcome) => {
                report.deep += u64::from(outcome.deep);
                let key = hash_of(&format!("{}|{}", outcome.deep, normalize(&outcome.label)));
                // A new outcome joins the corpus; one stopped by the first parse only now
                // and then, so that the corpus stays made of inputs that go deep.
                let keep = outcome.deep || rng.one_in(16);
                if seen.insert(key) && keep && (report.execs as usize) > seeds {
                    if corpus.len() < options.max_corpus.max(seeds + 1) {
                        corpus.push(input);
                    } else {
                        let slot = seeds + rng.below(corpus.len() - seeds);
                        corpus[slot] = input;
                    }
                }
            }
            Err(message) => {
                let site = message.lines().next().unwrap_or_default().to_owned();
                match crash_sites.iter_mut().find(|(s, _)| *s == site) {
                    Some((_, crash)) => crash.count += 1,
                    None => {
                        let saved = save(&options.crash_dir, target.name, &input);
                        if options.progress.is_some() {
                            eprintln!(
                                "[{}] CRASH at exec {}: {message}\n  input saved: {}",
                                target.name,
                                report.execs,
                                match &saved {
                                    Ok(path) => path.display().to_string(),
                                    Err(why) => why.clone(),
                                }
                            );
                        }
                        crash_sites.push((
                            site,
                            Crash {
                                message,
                                count: 1,
                                saved,
                            },
                        ));
                    }
                }
            }
        }
        if let (Some(at), Some(every)) = (next_progress, options.progress) {
            if Instant::now() >= at {
                next_progress = Some(at + every);
                let elapsed = started.elapsed().as_secs_f64();
                eprintln!(
                    "[{}] {} execs, {:.0}/s, {:.0}% deep, {} outcomes, corpus {}, {} crashes",
                    target.name,
                    report.execs,
                    report.execs as f64 / elapsed.max(1e-9),
                    100.0 * report.deep as f64 / report.execs.max(1) as f64,
                    seen.len(),
                    corpus.len(),
                    crash_sites.iter().map(|(_, c)| c.count).sum::<u64>()
                );
            }
        }
    }
    report.outcomes = seen.len();
    report.corpus = corpus.len();
    report.crashes = crash_sites.into_iter().map(|(_, c)| c).collect();
    report.elapsed = started.elapsed();
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_keeps_the_check_and_drops_the_values() {
        assert_eq!(
            normalize("invalid:items[12].hs_code \"64x\" ptr/NL/x adm/NL#k-1 ok"),
            "invalid:items[].hs_code _ ok"
        );
        assert_eq!(
            normalize("unknown field `lrnx`, line 3"),
            "unknown field _, line"
        );
        assert_eq!(
            normalize(r"unknown field `x\`, expected one of `lrn`, `seller`"),
            "unknown field _, expected one of _, _"
        );
        assert_eq!(
            normalize("unknown field `a`b`, expected `lrn`"),
            "unknown field _b_lrn_"
        );
        assert_eq!(
            normalize(r#"invalid type: string "a\"b c", expected u32 é"#),
            "invalid type: string _, expected u"
        );
    }
}
