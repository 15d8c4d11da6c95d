//! Werewolf's rules (`examples/party/werewolf.rs`), played out without a network: dealing,
//! night hearing sets, who may vote, tallies and win conditions.
#![allow(clippy::unwrap_used)]

#[path = "../examples/party/werewolf.rs"]
#[allow(dead_code)]
mod werewolf;

use werewolf::{Game, Outcome, Phase, Refusal, Role, Team};

fn ids(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("p{i}")).collect()
}

fn with(game: &Game, role: Role) -> Vec<String> {
    game.roles()
        .filter(|(_, r)| *r == role)
        .map(|(id, _)| id.to_owned())
        .collect()
}

#[test]
fn eight_players_get_two_werewolves_a_seer_and_five_villagers_the_same_for_a_seed() {
    let a = Game::new(&ids(8), 7).unwrap();
    assert_eq!(with(&a, Role::Werewolf).len(), 2);
    assert_eq!(with(&a, Role::Seer).len(), 1);
    assert_eq!(with(&a, Role::Villager).len(), 5);
    let b = Game::new(&ids(8), 7).unwrap();
    assert_eq!(a.roles().collect::<Vec<_>>(), b.roles().collect::<Vec<_>>());
    let deals: std::collections::BTreeSet<Vec<String>> = (0..20)
        .map(|seed| with(&Game::new(&ids(8), seed).unwrap(), Role::Werewolf))
        .collect();
    assert!(deals.len() > 5, "seeds deal different wolves");
    assert!(Game::new(&ids(3), 1).is_err());
    assert!(Game::new(&["a".into(), "a".into(), "b".into(), "c".into()], 1).is_err());
}

#[test]
fn at_night_werewolves_hear_only_each_other_and_villagers_hear_nobody() {
    let game = Game::new(&ids(8), 3).unwrap();
    assert_eq!(game.phase(), Phase::Night(1));
    let wolves = with(&game, Role::Werewolf);
    for (id, hears) in game.hearing() {
        let hears = hears.expect("a hearing set for every player at night");
        if wolves.iter().any(|w| w == id) {
            let other: Vec<&str> = wolves
                .iter()
                .map(String::as_str)
                .filter(|w| *w != id)
                .collect();
            assert_eq!(hears, other, "{id}");
        } else {
            assert!(hears.is_empty(), "{id} hears {hears:?}");
        }
    }
    let mut game = game;
    game.advance();
    assert!(
        game.hearing().values().all(Option::is_none),
        "by day everyone hears everyone"
    );
}

#[test]
fn only_living_players_vote_and_only_werewolves_choose_at_night() {
    let mut game = Game::new(&ids(8), 11).unwrap();
    let wolf = with(&game, Role::Werewolf)[0].clone();
    let other_wolf = with(&game, Role::Werewolf)[1].clone();
    let villager = with(&game, Role::Villager)[0].clone();
    let seer = with(&game, Role::Seer)[0].clone();
    assert_eq!(
        game.choose(&villager, &wolf),
        Err(Refusal::NotNow),
        "villagers sleep"
    );
    assert_eq!(
        game.choose(&wolf, &other_wolf),
        Err(Refusal::BadTarget),
        "no eating wolves"
    );
    assert_eq!(
        game.choose("spectator", &villager),
        Err(Refusal::NotAPlayer)
    );
    assert_eq!(game.ask(&seer, &wolf), Ok(true));
    assert_eq!(game.ask(&seer, &villager), Ok(false));
    assert_eq!(game.ask(&villager, &wolf), Err(Refusal::NotNow));
    game.choose(&wolf, &villager).unwrap();
    assert_eq!(game.advance(), vec![Outcome::Killed(villager.clone())]);
    assert_eq!(game.phase(), Phase::Day(1));
    assert_eq!(
        game.choose(&wolf, &seer),
        Err(Refusal::NotNow),
        "no voting before the vote"
    );
    game.advance();
    assert_eq!(game.phase(), Phase::Vote(1));
    assert_eq!(
        game.choose(&villager, &wolf),
        Err(Refusal::Dead),
        "the dead do not vote"
    );
    assert_eq!(
        game.choose(&seer, &villager),
        Err(Refusal::BadTarget),
        "nor are voted for"
    );
    assert_eq!(game.choose(&seer, &seer), Err(Refusal::BadTarget));
}

#[test]
fn the_most_voted_player_leaves_and_a_tie_removes_nobody() {
    let mut game = Game::new(&ids(8), 5).unwrap();
    game.advance(); // a quiet night
    game.advance();
    let alive: Vec<String> = game.alive().iter().map(|s| s.to_string()).collect();
    assert_eq!(alive.len(), 8);
    // Four vote for alive[0], three for alive[1], and alive[0] votes for alive[1].
    for voter in &alive[1..5] {
        game.choose(voter, &alive[0]).unwrap();
    }
    for voter in &alive[5..8] {
        game.choose(voter, &alive[1]).unwrap();
    }
    game.choose(&alive[0], &alive[1]).unwrap();
    game.choose(&alive[0], &alive[2]).unwrap(); // changed its mind: the later choice counts
    let outcome = game.advance();
    let Outcome::VotedOut { player, votes } = &outcome[0] else {
        panic!("{outcome:?}");
    };
    assert_eq!(player, &alive[0]);
    assert_eq!(
        (votes[&alive[0]], votes[&alive[1]], votes[&alive[2]]),
        (4, 3, 1)
    );
    assert_eq!(game.eliminated(), &[alive[0].clone()]);
    assert_eq!(game.phase(), Phase::Night(2));

    let mut tied = Game::new(&ids(4), 5).unwrap();
    tied.advance();
    tied.advance();
    let alive: Vec<String> = tied.alive().iter().map(|s| s.to_string()).collect();
    tied.choose(&alive[0], &alive[1]).unwrap();
    tied.choose(&alive[1], &alive[0]).unwrap();
    assert_eq!(tied.advance(), vec![Outcome::NoMajority]);
    assert!(tied.eliminated().is_empty());
}

#[test]
fn the_village_wins_when_the_wolves_are_gone_and_the_wolves_when_they_match_the_rest() {
    // The village votes out both wolves on days 1 and 2.
    let mut game = Game::new(&ids(8), 21).unwrap();
    let wolves = with(&game, Role::Werewolf);
    for wolf in &wolves {
        game.advance(); // night (no kill)
        game.advance(); // day
        for voter in game
            .alive()
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
        {
            if &voter != wolf {
                game.choose(&voter, wolf).unwrap();
            }
        }
        game.advance();
    }
    assert_eq!(game.phase(), Phase::Over(Team::Village));
    assert_eq!(game.winner(), Some(Team::Village));

    // With 4 players the wolf wins once it has eaten two of the three others.
    let mut game = Game::new(&ids(4), 2).unwrap();
    let wolf = with(&game, Role::Werewolf)[0].clone();
    let mut prey: Vec<String> = game
        .alive()
        .iter()
        .filter(|p| **p != wolf)
        .map(|s| s.to_string())
        .collect();
    game.choose(&wolf, &prey.pop().unwrap()).unwrap();
    game.advance();
    game.advance();
    game.advance(); // nobody votes
    game.choose(&wolf, &prey.pop().unwrap()).unwrap();
    let outcomes = game.advance();
    assert_eq!(outcomes.last(), Some(&Outcome::Won(Team::Werewolves)));
    assert_eq!(game.phase(), Phase::Over(Team::Werewolves));
    assert_eq!(
        game.choose(&wolf, &prey[0]),
        Err(Refusal::NotNow),
        "the game is over"
    );
}
