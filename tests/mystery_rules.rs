//! Murder Mystery's rules (`examples/party/mystery.rs`), played out without a network: dealing,
//! room and whisper hearing sets, murders, accusations and win conditions.
#![allow(clippy::unwrap_used)]

#[path = "../examples/party/mystery.rs"]
#[allow(dead_code)]
mod mystery;

use std::collections::{BTreeMap, BTreeSet};

use mystery::{Game, Outcome, Phase, ROOMS, Refusal, Role, Team};
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

fn ids(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("p{i}")).collect()
}

fn murderer(game: &Game) -> String {
    let mut found = game.roles().filter(|(_, r)| *r == Role::Murderer);
    found.next().unwrap().0.to_owned()
}

fn guests(game: &Game) -> Vec<String> {
    game.roles()
        .filter(|(_, r)| *r == Role::Guest)
        .map(|(id, _)| id.to_owned())
        .collect()
}

fn alive(game: &Game) -> Vec<String> {
    game.alive().iter().map(|s| s.to_string()).collect()
}

/// Moves each player into its room.
fn place(game: &mut Game, moves: &[(&str, &str)]) {
    for (id, room) in moves {
        game.move_to(id, room).unwrap();
    }
}

/// The hearing set of each player, as owned strings, with `None` for everyone.
fn hearing(game: &Game) -> BTreeMap<String, Option<Vec<String>>> {
    game.hearing()
        .into_iter()
        .map(|(id, hears)| {
            let hears = hears.map(|h| h.iter().map(|s| s.to_string()).collect());
            (id.to_owned(), hears)
        })
        .collect()
}

fn heard(list: &[&str]) -> Option<Vec<String>> {
    Some(list.iter().map(|s| s.to_string()).collect())
}

#[test]
fn dealing_is_deterministic_per_seed_with_one_murderer_and_everyone_spread_over_the_rooms() {
    let a = Game::new(&ids(8), 7).unwrap();
    assert_eq!(a.phase(), Phase::Explore(1));
    assert_eq!(guests(&a).len(), 7);
    assert_eq!(a.role(&murderer(&a)).map(Role::as_str), Some("murderer"));
    let rooms = a.rooms();
    assert_eq!(rooms.len(), ROOMS.len());
    assert!(
        rooms.values().all(|occupants| occupants.len() == 2),
        "{rooms:?}"
    );
    for id in ids(8) {
        let room = a.room_of(&id).unwrap();
        assert!(rooms[room].contains(&id.as_str()));
    }
    let b = Game::new(&ids(8), 7).unwrap();
    assert_eq!(a.roles().collect::<Vec<_>>(), b.roles().collect::<Vec<_>>());
    assert_eq!(a.rooms(), b.rooms());
    let seatings: BTreeSet<Vec<(String, String)>> = (0..20)
        .map(|seed| Game::new(&ids(8), seed).unwrap())
        .map(|g| {
            ids(8)
                .into_iter()
                .map(|id| (g.room_of(&id).unwrap().to_owned(), id))
                .collect()
        })
        .collect();
    assert!(seatings.len() > 5, "seeds deal different rooms");
    let murderers: BTreeSet<String> = (0..20)
        .map(|seed| murderer(&Game::new(&ids(8), seed).unwrap()))
        .collect();
    assert!(murderers.len() > 3, "seeds pick different murderers");
    assert!(Game::new(&ids(3), 1).is_err());
    assert!(Game::new(&["a".into(), "a".into(), "b".into(), "c".into()], 1).is_err());
}

#[test]
fn every_room_is_listed_even_when_empty() {
    let mut game = Game::new(&ids(4), 1).unwrap();
    for id in ids(4) {
        game.move_to(&id, "library").unwrap();
    }
    let rooms = game.rooms();
    assert_eq!(rooms["library"], vec!["p1", "p2", "p3", "p4"]);
    for room in ["kitchen", "garden", "cellar"] {
        assert!(rooms[room].is_empty(), "{room}");
    }
    assert_eq!(game.move_to("p1", "attic"), Err(Refusal::BadTarget));
    assert_eq!(game.room_of("p1"), Some("library"));
}

#[test]
fn while_exploring_players_hear_only_their_room_mates_and_hearing_follows_a_move() {
    let mut game = Game::new(&ids(6), 3).unwrap();
    place(
        &mut game,
        &[
            ("p1", "library"),
            ("p2", "library"),
            ("p3", "library"),
            ("p4", "kitchen"),
            ("p5", "kitchen"),
            ("p6", "garden"),
        ],
    );
    let expected = BTreeMap::from([
        ("p1".to_owned(), heard(&["p2", "p3"])),
        ("p2".to_owned(), heard(&["p1", "p3"])),
        ("p3".to_owned(), heard(&["p1", "p2"])),
        ("p4".to_owned(), heard(&["p5"])),
        ("p5".to_owned(), heard(&["p4"])),
        ("p6".to_owned(), heard(&[])),
    ]);
    assert_eq!(hearing(&game), expected);

    game.move_to("p3", "garden").unwrap();
    let hears = hearing(&game);
    assert_eq!(hears["p1"], heard(&["p2"]));
    assert_eq!(hears["p3"], heard(&["p6"]));
    assert_eq!(hears["p6"], heard(&["p3"]));
    assert_eq!(hears["p4"], heard(&["p5"]));
}

#[test]
fn a_whispering_pair_hears_only_each_other_and_its_room_mates_no_longer_hear_it() {
    let mut game = Game::new(&ids(5), 4).unwrap();
    for id in ids(4) {
        game.move_to(&id, "kitchen").unwrap();
    }
    game.move_to("p5", "cellar").unwrap();
    game.whisper("p1", "p2").unwrap();
    assert_eq!(game.whispering("p1"), Some("p2"));
    assert_eq!(game.whispering("p2"), Some("p1"));
    let hears = hearing(&game);
    assert_eq!(hears["p1"], heard(&["p2"]));
    assert_eq!(hears["p2"], heard(&["p1"]));
    assert_eq!(hears["p3"], heard(&["p4"]));
    assert_eq!(hears["p4"], heard(&["p3"]));

    // A new whisper ends the earlier ones of both players.
    game.whisper("p3", "p2").unwrap();
    assert_eq!(game.whispering("p1"), None);
    assert_eq!(game.whispering("p2"), Some("p3"));
    let hears = hearing(&game);
    assert_eq!(hears["p1"], heard(&["p4"]));
    assert_eq!(hears["p2"], heard(&["p3"]));
    assert_eq!(hears["p4"], heard(&["p1"]));

    // Ending a whisper puts both back in the room; ending none is harmless.
    game.end_whisper("p2");
    game.end_whisper("p2");
    assert_eq!(game.whispering("p3"), None);
    assert_eq!(hearing(&game)["p1"], heard(&["p2", "p3", "p4"]));
}

#[test]
fn moving_ends_the_movers_whisper() {
    let mut game = Game::new(&ids(4), 9).unwrap();
    for id in ids(4) {
        game.move_to(&id, "garden").unwrap();
    }
    game.whisper("p1", "p2").unwrap();
    game.move_to("p2", "cellar").unwrap();
    assert_eq!(game.whispering("p1"), None);
    assert_eq!(game.whispering("p2"), None);
    let hears = hearing(&game);
    assert_eq!(hears["p1"], heard(&["p3", "p4"]));
    assert_eq!(hears["p2"], heard(&[]));
}

#[test]
fn whispering_across_rooms_to_oneself_or_outside_exploration_is_refused() {
    let mut game = Game::new(&ids(4), 2).unwrap();
    place(&mut game, &[("p1", "library"), ("p2", "cellar")]);
    assert_eq!(game.whisper("p1", "p2"), Err(Refusal::BadTarget));
    assert_eq!(game.whisper("p1", "p1"), Err(Refusal::BadTarget));
    assert_eq!(game.whisper("p1", "nobody"), Err(Refusal::BadTarget));
    assert_eq!(game.whispering("p1"), None);
    game.move_to("p2", "library").unwrap();
    game.advance();
    assert_eq!(game.whisper("p1", "p2"), Err(Refusal::NotNow));
}

#[test]
fn the_murderer_kills_only_a_room_mate_and_guests_cannot_kill() {
    let mut game = Game::new(&ids(6), 5).unwrap();
    let killer = murderer(&game);
    let guests = guests(&game);
    place(
        &mut game,
        &[
            (&killer, "cellar"),
            (&guests[0], "cellar"),
            (&guests[1], "garden"),
        ],
    );
    assert_eq!(game.kill(&killer, &guests[1]), Err(Refusal::BadTarget));
    assert_eq!(game.kill(&killer, &killer), Err(Refusal::BadTarget));
    assert_eq!(game.kill(&killer, "stranger"), Err(Refusal::BadTarget));
    assert_eq!(game.kill(&guests[0], &killer), Err(Refusal::NotNow));
    game.kill(&killer, &guests[0]).unwrap();
    assert_eq!(
        game.advance(),
        vec![Outcome::Murdered {
            victim: guests[0].clone(),
            room: "cellar".into()
        }]
    );
    assert_eq!(game.eliminated(), &[guests[0].clone()]);
    assert_eq!(game.phase(), Phase::Accuse(1));
    assert_eq!(game.kill(&killer, &guests[1]), Err(Refusal::NotNow));
}

#[test]
fn the_latest_choice_of_victim_dies_at_the_end_of_exploration_only_if_still_in_the_room() {
    let mut game = Game::new(&ids(6), 6).unwrap();
    let killer = murderer(&game);
    let guests = guests(&game);
    let moves: Vec<(&str, &str)> = [&killer, &guests[0], &guests[1]]
        .iter()
        .map(|id| (id.as_str(), "library"))
        .collect();
    place(&mut game, &moves);
    game.kill(&killer, &guests[0]).unwrap();
    game.kill(&killer, &guests[1]).unwrap(); // changed its mind: the later choice counts
    assert_eq!(
        game.alive().len(),
        6,
        "nobody dies before the end of the phase"
    );
    game.move_to(&guests[1], "kitchen").unwrap(); // the victim slips away
    assert_eq!(game.advance(), vec![]);
    assert!(game.eliminated().is_empty());

    // Next round the victim stays; the murderer following the victim elsewhere still kills.
    game.advance();
    assert_eq!(game.phase(), Phase::Explore(2));
    place(&mut game, &[(&killer, "kitchen")]);
    game.kill(&killer, &guests[1]).unwrap();
    let outcomes = game.advance();
    assert_eq!(
        outcomes,
        vec![Outcome::Murdered {
            victim: guests[1].clone(),
            room: "kitchen".into()
        }]
    );
    assert_eq!(game.room_of(&guests[1]), None, "the dead are in no room");
}

#[test]
fn while_accusing_everyone_hears_everyone_and_whispers_are_over() {
    let mut game = Game::new(&ids(5), 8).unwrap();
    for id in ids(5) {
        game.move_to(&id, "garden").unwrap();
    }
    game.whisper("p1", "p2").unwrap();
    game.advance();
    assert_eq!(game.phase(), Phase::Accuse(1));
    let hears = game.hearing();
    assert_eq!(hears.len(), game.alive().len());
    assert!(hears.values().all(Option::is_none), "{hears:?}");
    assert_eq!(game.whispering("p1"), None);
    assert_eq!(game.move_to("p1", "library"), Err(Refusal::NotNow));
}

#[test]
fn accusing_the_murderer_by_plurality_wins_for_the_guests() {
    let mut game = Game::new(&ids(6), 10).unwrap();
    let killer = murderer(&game);
    let guests = guests(&game);
    game.advance();
    for accuser in &guests[..3] {
        game.accuse(accuser, &killer).unwrap();
    }
    game.accuse(&guests[3], &guests[4]).unwrap();
    game.accuse(&killer, &guests[4]).unwrap();
    let outcomes = game.advance();
    let votes = BTreeMap::from([(killer.clone(), 3), (guests[4].clone(), 2)]);
    assert_eq!(
        outcomes,
        vec![
            Outcome::Accused {
                player: killer.clone(),
                votes,
                murderer: true
            },
            Outcome::Won(Team::Guests)
        ]
    );
    assert_eq!(game.phase(), Phase::Over(Team::Guests));
    assert_eq!(game.winner(), Some(Team::Guests));
    assert!(game.hearing().values().all(Option::is_none));
    assert_eq!(
        game.advance(),
        vec![],
        "advancing a finished game changes nothing"
    );
    assert_eq!(game.phase(), Phase::Over(Team::Guests));
    assert_eq!(game.move_to(&guests[0], "cellar"), Err(Refusal::NotNow));
}

#[test]
fn accusing_before_the_accusation_phase_is_refused() {
    let mut game = Game::new(&ids(4), 1).unwrap();
    assert_eq!(game.accuse("p1", "p2"), Err(Refusal::NotNow));
}

#[test]
fn a_tie_or_silence_removes_nobody_and_a_wrong_accusation_removes_a_guest() {
    let mut game = Game::new(&ids(6), 12).unwrap();
    let killer = murderer(&game);
    let guests = guests(&game);
    game.advance();
    game.accuse(&guests[0], &guests[1]).unwrap();
    game.accuse(&guests[1], &guests[0]).unwrap();
    assert_eq!(game.accuse(&guests[2], &guests[2]), Err(Refusal::BadTarget));
    assert_eq!(game.advance(), vec![Outcome::NoMajority]);
    assert!(game.eliminated().is_empty());
    assert_eq!(game.phase(), Phase::Explore(2));

    game.advance();
    assert_eq!(game.advance(), vec![Outcome::NoMajority], "nobody accused");
    assert_eq!(game.phase(), Phase::Explore(3));

    game.advance();
    game.accuse(&killer, &guests[0]).unwrap();
    game.accuse(&guests[1], &guests[0]).unwrap();
    game.accuse(&guests[2], &killer).unwrap();
    game.accuse(&guests[2], &guests[0]).unwrap(); // changed its mind: the later one counts
    let outcomes = game.advance();
    assert_eq!(
        outcomes,
        vec![Outcome::Accused {
            player: guests[0].clone(),
            votes: BTreeMap::from([(guests[0].clone(), 3)]),
            murderer: false
        }]
    );
    assert_eq!(game.eliminated(), &[guests[0].clone()]);
    assert_eq!(game.winner(), None);
    assert_eq!(game.phase(), Phase::Explore(4));
}

#[test]
fn the_murderer_wins_when_two_players_remain() {
    let mut game = Game::new(&ids(4), 13).unwrap();
    let killer = murderer(&game);
    let guests = guests(&game);
    place(&mut game, &[(&killer, "cellar"), (&guests[0], "cellar")]);
    game.kill(&killer, &guests[0]).unwrap();
    game.advance();
    assert_eq!(game.winner(), None, "three players left");
    game.accuse(&killer, &guests[1]).unwrap();
    game.accuse(&guests[2], &guests[1]).unwrap();
    let outcomes = game.advance();
    assert_eq!(outcomes.last(), Some(&Outcome::Won(Team::Murderer)));
    assert_eq!(game.phase(), Phase::Over(Team::Murderer));
    assert_eq!(alive(&game), {
        let mut left = vec![killer.clone(), guests[2].clone()];
        left.sort();
        left
    });
    assert_eq!(game.kill(&killer, &guests[2]), Err(Refusal::NotNow));
}

#[test]
fn dead_players_and_strangers_are_refused() {
    let mut game = Game::new(&ids(5), 14).unwrap();
    let killer = murderer(&game);
    let guests = guests(&game);
    place(&mut game, &[(&killer, "garden"), (&guests[0], "garden")]);
    game.kill(&killer, &guests[0]).unwrap();
    game.advance();
    let dead = &guests[0];
    assert_eq!(game.accuse(dead, &killer), Err(Refusal::Dead));
    assert_eq!(game.accuse(&guests[1], dead), Err(Refusal::BadTarget));
    assert_eq!(game.accuse("spectator", &killer), Err(Refusal::NotAPlayer));
    assert_eq!(game.role("spectator"), None);
    assert_eq!(game.room_of(dead), None);
    assert!(!game.hearing().contains_key(dead.as_str()));
    game.advance();
    assert_eq!(game.move_to(dead, "garden"), Err(Refusal::Dead));
    assert_eq!(game.whisper(dead, &guests[1]), Err(Refusal::Dead));
    assert_eq!(
        game.move_to("spectator", "garden"),
        Err(Refusal::NotAPlayer)
    );
    assert_eq!(
        game.whisper("spectator", &guests[1]),
        Err(Refusal::NotAPlayer)
    );
    assert_eq!(game.kill("spectator", &guests[1]), Err(Refusal::NotAPlayer));
    assert!(game.rooms().values().all(|o| !o.contains(&dead.as_str())));
}

#[test]
fn random_legal_play_always_ends_with_a_winner() {
    let mut wins = BTreeMap::new();
    let mut murders = 0;
    for seed in 0..200 {
        let players = 4 + (seed as usize % 9);
        let mut game = Game::new(&ids(players), seed).unwrap();
        let mut rng = SmallRng::seed_from_u64(seed ^ 0x5eed);
        let mut rounds = 0;
        while game.winner().is_none() {
            assert!(
                rounds < 200,
                "seed {seed} still going after {rounds} phases"
            );
            rounds += 1;
            let living = alive(&game);
            match game.phase() {
                Phase::Explore(_) => {
                    for id in &living {
                        match rng.gen_range(0..4) {
                            0 => game.move_to(id, ROOMS.choose(&mut rng).unwrap()).unwrap(),
                            1 => {
                                let to = living.choose(&mut rng).unwrap();
                                let legal = to != id && game.room_of(to) == game.room_of(id);
                                assert_eq!(game.whisper(id, to).is_ok(), legal);
                            }
                            2 => game.end_whisper(id),
                            _ => {}
                        }
                        let target = living.choose(&mut rng).unwrap();
                        let kill = game.kill(id, target);
                        if game.role(id) == Some(Role::Guest) {
                            assert_eq!(kill, Err(Refusal::NotNow));
                        }
                    }
                    for (id, hears) in game.hearing() {
                        let hears = hears.unwrap();
                        assert!(!hears.contains(&id), "{id} hears itself");
                        let room = game.room_of(id);
                        assert!(hears.iter().all(|o| game.room_of(o) == room));
                    }
                }
                Phase::Accuse(_) => {
                    for id in &living {
                        let target = living.choose(&mut rng).unwrap();
                        assert_eq!(game.accuse(id, target).is_ok(), target != id);
                    }
                }
                Phase::Over(_) => unreachable!("the loop stops at a winner"),
            }
            let before = game.alive().len();
            let outcomes = game.advance();
            assert!(game.alive().len() >= before.saturating_sub(1));
            murders += outcomes
                .iter()
                .filter(|o| matches!(o, Outcome::Murdered { .. }))
                .count();
            if let Some(team) = game.winner() {
                assert_eq!(outcomes.last(), Some(&Outcome::Won(team)));
                assert_eq!(game.phase(), Phase::Over(team));
                *wins.entry(format!("{team:?}")).or_insert(0) += 1;
            }
        }
    }
    assert_eq!(wins.len(), 2, "both sides win some games: {wins:?}");
    assert!(murders > 50, "random murderers find victims: {murders}");
}
