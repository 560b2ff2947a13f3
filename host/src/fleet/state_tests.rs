use super::*;

fn lookup<'a>(vars: &'a [(&str, &str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }
}

#[test]
fn default_dir_order() {
    let all = [
        ("STATE_DIRECTORY", "/var/lib/sonde:/var/lib/other"),
        ("XDG_STATE_HOME", "/home/u/.state"),
        ("HOME", "/home/u"),
    ];
    type Case<'a> = (&'a [(&'a str, &'a str)], bool, Option<&'a str>);
    let cases: [Case; 6] = [
        (&all, false, Some("/var/lib/sonde/fleet")),
        (&all[1..], true, Some("/var/lib/sonde/fleet")),
        (&all[1..], false, Some("/home/u/.state/sonde/fleet")),
        (&all[2..], false, Some("/home/u/.local/state/sonde/fleet")),
        (
            &[("XDG_STATE_HOME", "relative"), ("STATE_DIRECTORY", "rel")],
            false,
            None,
        ),
        (&[], false, None),
    ];
    for (vars, root, want) in cases {
        assert_eq!(
            default_dir(lookup(vars), root),
            want.map(PathBuf::from),
            "{vars:?} root={root}"
        );
    }
}

#[test]
fn a_directory_others_can_read_is_made_private() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    StateDir::open(dir.path()).unwrap();
    let mode = std::fs::metadata(dir.path()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
}

#[test]
fn damaged_or_huge_state_is_an_error_not_a_fresh_start() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::open(dir.path()).unwrap();
    assert_eq!(state.load_saved().unwrap(), Saved::default());
    std::fs::write(dir.path().join(STATE_FILE), b"{not json").unwrap();
    let err = format!("{:#}", state.load_saved().unwrap_err());
    assert!(err.contains("damaged"), "{err}");
    let huge = std::fs::File::create(dir.path().join(STATE_FILE)).unwrap();
    huge.set_len(MAX_STATE_FILE_BYTES + 1).unwrap();
    let err = format!("{:#}", state.load_saved().unwrap_err());
    assert!(err.contains("bytes >"), "{err}");
}
