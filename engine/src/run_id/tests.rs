use std::collections::BTreeSet;
use std::process::Command;

use super::*;

fn file(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("data").join("run-sequence")
}

#[test]
fn two_runs_started_in_the_same_second_get_different_ids() {
    let dir = tempfile::tempdir().unwrap();
    let a = acquire(&file(&dir)).unwrap();
    let b = acquire(&file(&dir)).unwrap();
    assert_ne!(a.run, b.run);
    assert_eq!((a.sequence, b.sequence), (1, 2));
    assert_eq!(std::fs::read_to_string(file(&dir)).unwrap(), "2\n");
}

#[test]
fn identical_inputs_other_than_the_file_still_give_new_runs() {
    // The identity reads no clock: a clock stepped back (or any repeat of the same second)
    // cannot bring an old run id back. Even the random part repeating exactly does not, as
    // the persisted sequence moves on every time.
    let dir = tempfile::tempdir().unwrap();
    let runs: Vec<_> = (0..5)
        .map(|_| acquire_with(&file(&dir), || Ok(0x1234_5678)).unwrap())
        .collect();
    let distinct: BTreeSet<_> = runs.iter().map(|r| r.run).collect();
    assert_eq!(distinct.len(), 5);
    assert!(runs.windows(2).all(|w| w[0].run < w[1].run), "{runs:?}");
}

#[test]
fn run_ids_never_fall_in_the_old_wall_clock_range() {
    let dir = tempfile::tempdir().unwrap();
    let r = acquire_with(&file(&dir), || Ok(0)).unwrap();
    assert!(r.run > u64::from(u32::MAX), "{:x}", r.run);
    assert_eq!(RunIdentity::compose(1, u64::MAX).run >> RANDOM_BITS, 1);
    assert_eq!(
        RunIdentity::compose(MAX_SEQUENCE, u64::MAX).run,
        u64::MAX,
        "sequence and random bits fill the id exactly"
    );
}

#[test]
fn the_random_part_separates_engines_with_their_own_files() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ra = acquire(&file(&a)).unwrap();
    let rb = acquire(&file(&b)).unwrap();
    assert_eq!((ra.sequence, rb.sequence), (1, 1));
    // 40 random bits from the OS: equal with probability 2^-40.
    assert_ne!(ra.run, rb.run);
}

#[test]
fn concurrent_threads_take_distinct_sequences() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir);
    let (threads, each) = (4, 25);
    let got: Vec<RunIdentity> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let path = path.clone();
                // The same random bits everywhere: only the lock keeps them apart.
                s.spawn(move || {
                    (0..each)
                        .map(|_| acquire_with(&path, || Ok(7)).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let seqs: BTreeSet<u64> = got.iter().map(|r| r.sequence).collect();
    let runs: BTreeSet<u64> = got.iter().map(|r| r.run).collect();
    let n = (threads * each) as u64;
    assert_eq!(seqs, (1..=n).collect::<BTreeSet<_>>());
    assert_eq!(runs.len() as u64, n);
}

const CHILD_ENV: &str = "PEREGRINE_RUN_ID_TEST_FILE";

/// Helper for the test below, run in child processes: takes 20 run identities from the file
/// named in the environment and prints them.
#[test]
#[ignore = "helper run in a child process by concurrent_processes_take_distinct_sequences"]
fn acquire_in_child() {
    let path = PathBuf::from(std::env::var(CHILD_ENV).expect("run by the parent test"));
    for _ in 0..20 {
        let r = acquire_with(&path, || Ok(7)).unwrap();
        println!("acquired {} {:x}", r.sequence, r.run);
    }
}

#[test]
fn concurrent_processes_take_distinct_sequences() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir);
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..3)
        .map(|_| {
            Command::new(&exe)
                .args([
                    "run_id::tests::acquire_in_child",
                    "--exact",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_ENV, &path)
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // The parent takes some too, at the same time.
    let mine: Vec<_> = (0..20)
        .map(|_| acquire_with(&path, || Ok(7)).unwrap().sequence)
        .collect();
    let mut seqs: Vec<u64> = mine;
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        let got: Vec<u64> = text
            .lines()
            // libtest may print its own "test ... " prefix on the first line.
            .filter_map(|l| l.split_once("acquired ").map(|(_, rest)| rest))
            .map(|l| l.split(' ').next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(got.len(), 20, "{text}");
        seqs.extend(got);
    }
    let distinct: BTreeSet<u64> = seqs.iter().copied().collect();
    assert_eq!(distinct, (1..=80).collect::<BTreeSet<_>>());
}

#[test]
fn a_corrupt_file_is_an_error_naming_it_not_a_reset() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, "twelve\n").unwrap();
    let err = acquire(&path).unwrap_err().to_string();
    assert!(
        err.contains(&path.display().to_string()) && err.contains("twelve"),
        "{err}"
    );
    std::fs::write(&path, "-3\n").unwrap();
    assert!(matches!(acquire(&path), Err(RunIdError::Corrupt { .. })));
}

#[test]
fn an_exhausted_sequence_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, format!("{}\n", MAX_SEQUENCE - 1)).unwrap();
    assert_eq!(acquire(&path).unwrap().sequence, MAX_SEQUENCE);
    let err = acquire(&path).unwrap_err();
    assert!(matches!(err, RunIdError::Exhausted { .. }), "{err}");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        format!("{MAX_SEQUENCE}\n"),
        "a refused run leaves the file as it was"
    );
}
