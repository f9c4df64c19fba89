//! One app per data folder (issue 14, item 9), without a window: the first claim serves later
//! launches, a later claim on the same folder hands its arguments over and is told to exit, a
//! claim on another folder is first on its own. The real binary is launched twice in
//! tests/e2e/instance.test.mjs.

use std::io::{BufRead, BufReader, Write};
use std::sync::mpsc;
use std::time::Duration;

use pb2b_app::instance::{claim, Claim};

#[test]
fn a_second_claim_on_one_data_folder_hands_over_and_another_folder_is_independent() {
    let dir = tempfile::tempdir().unwrap();
    let Claim::First(primary) = claim(dir.path(), &[]).unwrap() else {
        panic!("the first claim is first");
    };
    let (tx, rx) = mpsc::channel();
    primary.serve(move |args| tx.send(args).unwrap());

    // A wrong token is ignored: no answer, no call.
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("app-instance.json")).unwrap())
            .unwrap();
    let port = info["port"].as_u64().unwrap() as u16;
    let mut stranger = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stranger
        .write_all(b"[\"not-the-token\", [\"--evil\"]]\n")
        .unwrap();
    let mut answer = String::new();
    BufReader::new(&stranger).read_line(&mut answer).unwrap();
    assert_eq!(answer, "", "a stranger gets no answer");

    let args = vec!["--sandbox".to_owned()];
    assert!(matches!(claim(dir.path(), &args).unwrap(), Claim::Running));
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(30)).unwrap(),
        args,
        "the running app got the later launch's arguments"
    );
    assert!(
        rx.try_recv().is_err(),
        "the stranger's arguments never arrived"
    );

    let other = tempfile::tempdir().unwrap();
    assert!(matches!(claim(other.path(), &[]).unwrap(), Claim::First(_)));
}
