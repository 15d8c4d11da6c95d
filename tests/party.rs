//! The party game (`examples/party`) played headless by bots against its embedded server: the
//! JSON report says what each seat's playout actually received in each phase, so these tests
//! check the server enforced the rules, not that the rules say so.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

/// Plays a headless game and returns its report.
fn play(args: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let output = Command::new(common::party::binary())
        .args(["--headless", "--report", report.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "party {args:?} failed: {}\n{log}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap()
}

/// One Werewolf game shared by the tests below: 8 bots, a bot spectator who raises a hand,
/// and `cy` running a tampered client (forged votes, greedy subscriptions).
fn werewolf() -> &'static Value {
    static REPORT: OnceLock<Value> = OnceLock::new();
    REPORT.get_or_init(|| {
        play(&[
            "--bots",
            "8",
            "--spectators",
            "1",
            "--rounds",
            "6",
            "--tamper",
            "cy",
            "--seed",
            "3",
        ])
    })
}

fn users(value: &Value) -> BTreeSet<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

fn with_role(report: &Value, role: &str) -> BTreeSet<String> {
    report["players"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| *r == role)
        .map(|(id, _)| id.clone())
        .collect()
}

/// Players alive at the start of a phase: everyone not eliminated by then (the stage log
/// records each elimination with the phase it happened in).
fn phases(report: &Value, name: &str) -> Vec<Value> {
    report["phases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == name)
        .cloned()
        .collect()
}

#[test]
fn eight_bots_play_werewolf_to_a_winner() {
    let report = werewolf();
    assert_eq!(report["mode"], "werewolf");
    let winner = report["winner"].as_str().unwrap();
    assert!(
        ["werewolves", "village"].contains(&winner),
        "winner {winner}"
    );
    assert_eq!(with_role(report, "werewolf").len(), 2);
    assert_eq!(with_role(report, "seer").len(), 1);
    assert_eq!(with_role(report, "villager").len(), 5);
    assert_eq!(with_role(report, "narrator").len(), 1);
    assert!(!report["eliminated"].as_array().unwrap().is_empty());
    assert!(report["rounds"].as_u64().unwrap() >= 1);
}

#[test]
fn at_night_villagers_receive_nothing_and_werewolves_only_werewolves() {
    let report = werewolf();
    let wolves = with_role(report, "werewolf");
    let nights = phases(report, "night");
    assert!(!nights.is_empty());
    let mut wolves_heard_wolves = false;
    for night in &nights {
        for (seat, heard) in night["heard"].as_object().unwrap() {
            let heard = users(heard);
            let seen = users(&night["seen"][seat]);
            if wolves.contains(seat) {
                assert!(heard.is_subset(&wolves), "{seat} heard {heard:?} at night");
                assert!(seen.is_subset(&wolves), "{seat} saw {seen:?} at night");
                wolves_heard_wolves |= !heard.is_empty() && !seen.is_empty();
            } else {
                assert!(heard.is_empty(), "{seat} heard {heard:?} at night");
                assert!(seen.is_empty(), "{seat} saw {seen:?} at night");
            }
        }
    }
    // The measurement is live: at night the pack reaches each other, and by day everyone.
    assert!(wolves_heard_wolves, "no werewolf received another at night");
    let day = &phases(report, "day")[0];
    for (seat, heard) in day["heard"].as_object().unwrap() {
        assert!(users(heard).len() >= 7, "{seat} heard only {heard} by day");
    }
}

#[test]
fn nobody_receives_anyone_the_narrator_did_not_allow() {
    let report = werewolf();
    for phase in report["phases"].as_array().unwrap() {
        for (seat, allowed) in phase["allowed"].as_object().unwrap() {
            let allowed = users(allowed);
            if allowed.contains("*") {
                continue;
            }
            let got: BTreeSet<String> = users(&phase["heard"][seat])
                .union(&users(&phase["seen"][seat]))
                .cloned()
                .collect();
            assert!(got.is_subset(&allowed), "{seat} got {got:?} in {phase}");
        }
    }
}

#[test]
fn a_forged_vote_counts_for_its_real_sender() {
    let report = werewolf();
    let forged: Vec<&Value> = report["votes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| !v["claimed"].is_null())
        .collect();
    assert!(!forged.is_empty(), "the tampered client sent no vote");
    for vote in forged {
        assert_ne!(vote["claimed"], "cy");
        assert_eq!(vote["from"], "cy", "{vote}");
    }
}

#[test]
fn the_tampered_client_gets_nothing_at_night_by_subscribing_to_everyone() {
    let report = werewolf();
    let wolves = with_role(report, "werewolf");
    for night in phases(report, "night") {
        let got: BTreeSet<String> = users(&night["heard"]["cy"])
            .union(&users(&night["seen"]["cy"]))
            .cloned()
            .collect();
        let allowed = if wolves.contains("cy") {
            wolves.clone()
        } else {
            BTreeSet::new()
        };
        assert!(got.is_subset(&allowed), "cy got {got:?} at night");
    }
}

#[test]
fn a_spectator_raises_a_hand_goes_on_stage_and_is_heard() {
    let report = werewolf();
    let invited = report["stage"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["user"] == "spectator-1" && s["role"] == "host")
        .expect("the spectator was invited on stage");
    let (phase, round) = (
        invited["phase"].as_str().unwrap(),
        invited["round"].as_u64().unwrap(),
    );
    let all = report["phases"].as_array().unwrap();
    let at = all
        .iter()
        .position(|p| p["name"] == phase && p["round"] == round)
        .unwrap();
    // Nobody heard the spectator from the audience before...
    for earlier in &all[..at] {
        for heard in earlier["heard"].as_object().unwrap().values() {
            assert!(!users(heard).contains("spectator-1"));
        }
    }
    // ... and every player still in the game heard and saw it on stage.
    let on_stage = &all[at];
    let eliminated = users(&report["eliminated"]);
    let mut listeners = 0;
    for (seat, heard) in on_stage["heard"].as_object().unwrap() {
        if seat == "spectator-1" || !report["players"][seat].is_string() {
            continue;
        }
        let out_before = report["stage"].as_array().unwrap().iter().any(|s| {
            s["user"] == seat.as_str()
                && s["role"] == "audience"
                && eliminated.contains(seat)
                && all
                    .iter()
                    .position(|p| p["name"] == s["phase"] && p["round"] == s["round"])
                    <= Some(at)
        });
        if out_before || report["players"][seat] == "spectator" {
            continue;
        }
        assert!(
            users(heard).contains("spectator-1"),
            "{seat} did not hear the guest"
        );
        assert!(users(&on_stage["seen"][seat]).contains("spectator-1"));
        listeners += 1;
    }
    assert!(listeners >= 4, "only {listeners} players listened");
}

#[test]
fn murder_mystery_rooms_and_whispers_decide_who_hears_whom() {
    let report = play(&[
        "--mode",
        "mystery",
        "--bots",
        "6",
        "--spectators",
        "0",
        "--rounds",
        "8",
    ]);
    assert_eq!(report["mode"], "mystery");
    let winner = report["winner"].as_str().unwrap();
    assert!(["murderer", "guests"].contains(&winner), "winner {winner}");
    assert_eq!(with_role(&report, "murderer").len(), 1);
    let mut private = 0;
    for phase in phases(&report, "explore") {
        for (seat, allowed) in phase["allowed"].as_object().unwrap() {
            let allowed = users(allowed);
            assert!(
                !allowed.contains("*"),
                "{seat} heard everyone while exploring"
            );
            let got: BTreeSet<String> = users(&phase["heard"][seat])
                .union(&users(&phase["seen"][seat]))
                .cloned()
                .collect();
            assert!(
                got.is_subset(&allowed),
                "{seat} got {got:?} beyond {allowed:?}"
            );
            private += usize::from(!got.is_empty());
        }
    }
    assert!(
        private > 0,
        "nobody heard a room-mate: the measurement measured nothing"
    );
    for phase in phases(&report, "accuse") {
        for (seat, allowed) in phase["allowed"].as_object().unwrap() {
            assert!(
                users(allowed).contains("*"),
                "{seat} was isolated while accusing"
            );
        }
    }
}
