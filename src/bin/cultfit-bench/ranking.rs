//! PERFORMANCE scenario 6: the live board against a Redis sorted set, on the same updates.

use anyhow::{Context, bail};
use bus_contracts::v1::frames::Tick;
use bus_contracts::v1::{NamedFrame, Placed, SampleCounts, Standing, live_codec};
use chrono::Utc;
use cultfit_actors::live::board::{Applied, Board};
use cultfit_actors::live::frame::{frames, roster};
use hdrhistogram::Histogram;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// One generated update: participant index, and the wearable's report as it travels on the bus.
struct Update {
    who: u32,
    energy: f64,
    payload: Vec<u8>,
}

/// The ranking scenario's updates, tick by tick: `rate` per second for `seconds`, spread round
/// robin over `participants`, each one's energy rising by a deterministic random step (seed 6)
/// that stays within the board's rate limit.
fn ranking_updates(
    participants: usize,
    rate: usize,
    seconds: u64,
    start_ms: i64,
) -> anyhow::Result<(Vec<Uuid>, Vec<Vec<Update>>)> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(6);
    let users: Vec<Uuid> = (0..participants)
        .map(|_| Uuid::from_u128(rng.random()))
        .collect();
    let mut energy = vec![0.0f64; participants];
    let mut seq = vec![0u64; participants];
    let mut next = 0usize;
    let mut ticks = Vec::with_capacity(seconds as usize);
    for second in 0..seconds as i64 {
        let mut tick = Vec::with_capacity(rate);
        for i in 0..rate {
            let who = next % participants;
            next += 1;
            // Whole points keep the scores exact in Redis's doubles too; at most 5 a report stays
            // far below 100 points a second whatever the rate.
            energy[who] += f64::from(rng.random_range(0..=5u8));
            seq[who] += 1;
            let sample = bus_contracts::v1::energy::Sample {
                seq: seq[who],
                ts: start_ms + second * 1000 + (i * 1000 / rate) as i64,
                rating: f64::from(rng.random_range(0..=100u8)),
                energy: energy[who],
                hr: None,
            };
            tick.push(Update {
                who: who as u32,
                energy: energy[who],
                payload: serde_json::to_vec(&sample)?,
            });
        }
        ticks.push(tick);
    }
    Ok((users, ticks))
}

/// What one side of the ranking comparison measured. Each tick is timed at two levels of
/// output, the same on both sides: **ranks** (the updates applied, the top 10, and every
/// participant's place: what the PERFORMANCE row's `ZADD` + `ZREVRANGE` + `ZREVRANK` give) and
/// **views** (the same, plus each participant's two neighbours either side with their points).
struct RankingOutcome {
    /// Per tick, microseconds: updates, top 10 and every participant's place.
    ranks: Histogram<u64>,
    /// Per tick, microseconds: all of the above plus every participant's neighbours.
    views: Histogram<u64>,
    /// Time spent folding updates alone (cultfit) or sending ZADDs alone (Redis).
    updating: Duration,
    /// Sums of the tick times at each level.
    ranks_total: Duration,
    views_total: Duration,
    updates: usize,
    /// The top score plus every participant's place (counted from 1), summed over the ticks:
    /// the same on both sides whatever order they break ties in, so [`run`] checks they agree.
    check: u64,
    /// Neighbours fetched, summed over the ticks: also the same on both sides.
    neighbours: u64,
}

/// One tick's timings, from its start: updates applied, places known, neighbours cut.
struct TickTimes {
    updated: Duration,
    ranked: Duration,
    viewed: Duration,
}

impl RankingOutcome {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            ranks: Histogram::new_with_bounds(1, 600_000_000, 3)?,
            views: Histogram::new_with_bounds(1, 600_000_000, 3)?,
            updating: Duration::ZERO,
            ranks_total: Duration::ZERO,
            views_total: Duration::ZERO,
            updates: 0,
            check: 0,
            neighbours: 0,
        })
    }

    /// One tick: its timings, the updates applied, what its places added up to and how many
    /// neighbours its views held.
    fn record(&mut self, times: TickTimes, updates: usize, check: u64, neighbours: usize) {
        let micros = |d: Duration| d.as_micros().max(1) as u64;
        let _ = self.ranks.record(micros(times.ranked));
        let _ = self.views.record(micros(times.viewed));
        self.ranks_total += times.ranked;
        self.views_total += times.viewed;
        self.updating += times.updated;
        self.updates += updates;
        self.check = self.check.wrapping_add(check);
        self.neighbours += neighbours as u64;
    }

    /// Updates applied per second of update work.
    fn update_rate(&self) -> f64 {
        self.updates as f64 / self.updating.as_secs_f64()
    }

    fn report(&self, scenario: &str, label: &str) {
        for (level, ticks) in [("ranks", &self.ranks), ("views", &self.views)] {
            let ms = |q: f64| ticks.value_at_quantile(q) as f64 / 1000.0;
            println!(
                "| {scenario}, {level} | {label} | {} ticks | {:.0} updates/s | {:.2} | {:.2} | {:.2} | {:.2} | 0 |",
                ticks.len(),
                self.update_rate(),
                ms(0.5),
                ms(0.99),
                ms(0.999),
                ticks.max() as f64 / 1000.0,
            );
        }
    }
}

/// The participant's place and the two either side, as `(user, points)` from first to last.
const NEIGHBOURS: usize = 2;

/// cultfit's side: the updates go through `energy::parse` and `Board::ingest` as the live session
/// folds them; each tick ranks the board (`Board::rank`, as every tick does), reads the top 10 and
/// every participant's place, then cuts each participant's neighbours into a view of its own. All
/// on this thread, no I/O: the time measured is CPU time.
struct CultfitSide<'a> {
    users: &'a [Uuid],
    start_ms: i64,
    board: Board,
    outcome: RankingOutcome,
}

impl<'a> CultfitSide<'a> {
    fn new(users: &'a [Uuid], start_ms: i64) -> anyhow::Result<Self> {
        Ok(Self {
            users,
            start_ms,
            board: Board::new(start_ms, users.iter().copied()),
            outcome: RankingOutcome::new()?,
        })
    }

    /// Folds `second`'s updates, ranks, and cuts every view.
    fn tick(&mut self, second: usize, updates: &[Update]) -> anyhow::Result<()> {
        let (board, outcome) = (&mut self.board, &mut self.outcome);
        let began = Instant::now();
        let now_ms = self.start_ms + (second as i64 + 1) * 1000;
        for update in updates {
            let sample = bus_contracts::v1::energy::parse(&update.payload)
                .map_err(|e| anyhow::anyhow!("generated sample rejected: {e:?}"))?;
            let applied = board.ingest(self.users[update.who as usize], &sample, now_ms);
            if !matches!(applied, Ok(Applied::Accepted)) {
                bail!("generated sample not accepted");
            }
        }
        let updated = began.elapsed();
        let ranking = board.rank();
        let points = |slot: u32| (board.user(slot), board.energy(slot).floor() as i64);
        let top: Vec<(Uuid, i64)> = ranking.order.iter().take(10).map(|&s| points(s)).collect();
        // Every participant's place, in the order Redis answers the ZREVRANKs: the users'.
        let places: Vec<u32> = ranking.rank_of.clone();
        let ranked = began.elapsed();
        let mut views = Vec::with_capacity(self.users.len());
        for &rank in &places {
            let rank = rank as usize;
            let from = rank.saturating_sub(1 + NEIGHBOURS);
            let to = (rank + NEIGHBOURS).min(ranking.order.len());
            let around: Vec<(Uuid, i64)> =
                ranking.order[from..to].iter().map(|&s| points(s)).collect();
            views.push(around);
        }
        let viewed = began.elapsed();
        let check = top.first().map_or(0, |t| t.1 as u64)
            + places.iter().map(|&r| u64::from(r)).sum::<u64>();
        let neighbours = views.iter().map(Vec::len).sum();
        let times = TickTimes {
            updated,
            ranked,
            viewed,
        };
        outcome.record(times, updates.len(), check, neighbours);
        Ok(())
    }
}

/// What `board` puts on the live subject for the api nodes: (every part of one tick as the owner
/// publishes it, slots only; the roster every reader asks for once, as JSON pages; one tick in
/// the older form that named everyone in every frame, binary). Everyone is named (`Trainee` and a
/// number: a 13-character name, about the median of the seed data's).
fn frame_bytes(board: &Board) -> (usize, usize, usize) {
    let names: HashMap<Uuid, Option<String>> = (0..board.len() as u32)
        .map(|slot| (board.user(slot), Some(format!("Trainee {slot:05}"))))
        .collect();
    let id = Uuid::now_v7();
    let tick = Tick {
        epoch: 1,
        board: id,
        tick: 600,
        at: Utc::now(),
        samples: SampleCounts {
            accepted: 6_000_000,
            rejected: 12,
        },
    };
    let ranking = board.rank();
    let participants = board.len() as u32;
    let parts = frames(board, &ranking, participants, tick);
    let slots = parts
        .iter()
        .map(|p| live_codec::encode_frame(p).len())
        .sum();
    let mut roster_bytes = 0;
    let mut from = 0;
    while from < participants {
        let page = roster(board, id, &names, from, participants);
        from += page.entries.len() as u32;
        roster_bytes += serde_json::to_vec(&page).map_or(0, |j| j.len());
    }
    let named = parts
        .into_iter()
        .map(|p| {
            let standings = p
                .standings
                .iter()
                .map(|&Placed(slot, energy, rating)| {
                    let user = board.user(slot);
                    Standing(user, energy, rating, names.get(&user).cloned().flatten())
                })
                .collect();
            let named = NamedFrame {
                epoch: p.epoch,
                tick: p.tick,
                at: p.at,
                participants: p.participants,
                samples: p.samples,
                part: p.part,
                parts: p.parts,
                offset: p.offset,
                standings,
            };
            postcard::to_extend(&named, vec![live_codec::FRAME_V1]).map_or(0, |b| b.len())
        })
        .sum();
    (slots, roster_bytes, named)
}

/// Commands per Redis pipeline.
const PIPELINE: usize = 1_000;

/// The baseline: the same updates as `ZADD key score member` into a Redis sorted set (pipelined,
/// [`PIPELINE`] commands at a time); per tick `ZREVRANGE key 0 9 WITHSCORES` and a `ZREVRANK` for
/// every participant (the ranks level), then for every participant `ZREVRANGE key rank-2 rank+2
/// WITHSCORES` (the views level: what a team would send after the ranks to show neighbours),
/// all pipelined. Wall time, as a client of Redis sees it. The key is unique to the run;
/// [`RedisSide::finish`] deletes it.
struct RedisSide {
    redis: redis::aio::MultiplexedConnection,
    key: String,
    members: Vec<String>,
    cpu_before: Option<f64>,
    outcome: RankingOutcome,
}

impl RedisSide {
    async fn connect(redis_url: &str, users: &[Uuid]) -> anyhow::Result<Self> {
        let client = redis::Client::open(redis_url)?;
        let mut redis = client
            .get_multiplexed_async_connection()
            .await
            .with_context(|| format!("failed to connect to {redis_url}"))?;
        let key = format!("cultfit-bench:ranking:{}", Uuid::now_v7());
        let members: Vec<String> = users.iter().map(|u| u.simple().to_string()).collect();
        // Everyone at 0 to begin with, as on the board's roster: every ZREVRANK finds its member.
        for batch in members.chunks(PIPELINE) {
            let mut pipe = redis::pipe();
            for member in batch {
                pipe.cmd("ZADD").arg(&key).arg(0).arg(member).ignore();
            }
            pipe.query_async::<()>(&mut redis).await?;
        }
        let cpu_before = redis_cpu(&mut redis).await;
        Ok(Self {
            redis,
            key,
            members,
            cpu_before,
            outcome: RankingOutcome::new()?,
        })
    }

    /// Sends one tick's updates, reads the top 10 and every participant's rank, then every
    /// participant's neighbours.
    async fn tick(&mut self, updates: &[Update]) -> anyhow::Result<()> {
        let (redis, key, outcome) = (&mut self.redis, &self.key, &mut self.outcome);
        let began = Instant::now();
        for batch in updates.chunks(PIPELINE) {
            let mut pipe = redis::pipe();
            for update in batch {
                pipe.cmd("ZADD")
                    .arg(key)
                    .arg(update.energy)
                    .arg(&self.members[update.who as usize])
                    .ignore();
            }
            pipe.query_async::<()>(redis).await?;
        }
        let updated = began.elapsed();
        let (top,): (Vec<(String, f64)>,) = redis::pipe()
            .cmd("ZREVRANGE")
            .arg(key)
            .arg(0)
            .arg(9)
            .arg("WITHSCORES")
            .query_async(redis)
            .await?;
        let mut places = Vec::with_capacity(self.members.len());
        for batch in self.members.chunks(PIPELINE) {
            let mut pipe = redis::pipe();
            for member in batch {
                pipe.cmd("ZREVRANK").arg(key).arg(member);
            }
            let got: Vec<Option<u64>> = pipe.query_async(redis).await?;
            places.extend(got);
        }
        let ranked = began.elapsed();
        let mut neighbours = 0;
        for batch in places.chunks(PIPELINE) {
            let mut pipe = redis::pipe();
            for &rank in batch.iter().flatten() {
                let from = rank.saturating_sub(NEIGHBOURS as u64);
                pipe.cmd("ZREVRANGE")
                    .arg(key)
                    .arg(from)
                    .arg(rank + NEIGHBOURS as u64)
                    .arg("WITHSCORES");
            }
            let got: Vec<Vec<(String, f64)>> = pipe.query_async(redis).await?;
            neighbours += got.iter().map(Vec::len).sum::<usize>();
        }
        let viewed = began.elapsed();
        let check = top.first().map_or(0, |t| t.1 as u64)
            + places.iter().flatten().map(|r| r + 1).sum::<u64>();
        let times = TickTimes {
            updated,
            ranked,
            viewed,
        };
        outcome.record(times, updates.len(), check, neighbours);
        Ok(())
    }

    /// Deletes the key; returns what was measured and redis-server's CPU seconds meanwhile.
    async fn finish(mut self) -> anyhow::Result<(RankingOutcome, Option<f64>)> {
        redis::cmd("DEL")
            .arg(&self.key)
            .query_async::<()>(&mut self.redis)
            .await?;
        let cpu = match (self.cpu_before, redis_cpu(&mut self.redis).await) {
            (Some(before), Some(after)) => Some(after - before),
            _ => None,
        };
        Ok((self.outcome, cpu))
    }
}

/// redis-server's CPU seconds so far (user + system, from `INFO cpu`).
async fn redis_cpu(redis: &mut redis::aio::MultiplexedConnection) -> Option<f64> {
    let info: String = redis::cmd("INFO")
        .arg("cpu")
        .query_async(redis)
        .await
        .ok()?;
    let field = |name: &str| {
        info.lines()
            .find_map(|line| line.strip_prefix(name)?.trim().parse::<f64>().ok())
    };
    Some(field("used_cpu_user:")? + field("used_cpu_sys:")?)
}

pub async fn run(
    redis_url: &str,
    participants: usize,
    rate: usize,
    seconds: u64,
    label: &str,
) -> anyhow::Result<()> {
    if participants == 0 || rate == 0 || seconds == 0 {
        bail!("--participants, --updates-per-s and --seconds must be positive");
    }
    let start_ms = Utc::now().timestamp_millis();
    let (users, ticks) = ranking_updates(participants, rate, seconds, start_ms)?;
    let mut cultfit = CultfitSide::new(&users, start_ms)?;
    let mut redis = RedisSide::connect(redis_url, &users).await?;
    // What a service in front of Redis would also spend: decoding the same payloads.
    let mut decoding = Duration::ZERO;
    // The sides take turns, tick by tick, and swap who goes first: on a shared machine whose
    // speed drifts by tens of percent from one minute to the next, both then see the same
    // machine, which running one side after the other did not give.
    let mut run = async || {
        for (second, updates) in ticks.iter().enumerate() {
            if second % 2 == 0 {
                cultfit.tick(second, updates)?;
                redis.tick(updates).await?;
            } else {
                redis.tick(updates).await?;
                cultfit.tick(second, updates)?;
            }
            let began = Instant::now();
            for update in updates {
                std::hint::black_box(bus_contracts::v1::energy::parse(&update.payload).ok());
            }
            decoding += began.elapsed();
        }
        anyhow::Ok(())
    };
    let ran = run().await;
    let (theirs, redis_cpu) = redis.finish().await?;
    ran?;
    let (ours, board) = (cultfit.outcome, cultfit.board);
    let label = if label.is_empty() {
        format!("{participants} participants, {rate} updates/s, {seconds} s")
    } else {
        label.to_owned()
    };
    ours.report("ranking: cultfit Board, in process", &label);
    theirs.report(
        "ranking baseline: Redis sorted set on loopback (ZADD + ZREVRANGE + ZREVRANK)",
        &label,
    );
    let ratio = |a: Duration, b: Duration| b.as_secs_f64() / a.as_secs_f64();
    let p50 = |h: &Histogram<u64>| h.value_at_quantile(0.5).max(1) as f64;
    println!(
        "ratio (cultfit over Redis), ranks (updates, top 10, every place): update rate {:.1}x, tick p50 {:.1}x, total tick time {:.1}x (target >= 10x)",
        ours.update_rate() / theirs.update_rate(),
        p50(&theirs.ranks) / p50(&ours.ranks),
        ratio(ours.ranks_total, theirs.ranks_total),
    );
    println!(
        "ratio (cultfit over Redis), views (the same plus {NEIGHBOURS} neighbours either side): tick p50 {:.1}x, total tick time {:.1}x",
        p50(&theirs.views) / p50(&ours.views),
        ratio(ours.views_total, theirs.views_total),
    );
    println!(
        "ratio as compared before 2026-11-27 (the board's views against Redis's ranks, unequal work): total tick time {:.1}x",
        ratio(ours.views_total, theirs.ranks_total),
    );
    println!(
        "ratio if the Redis side also decoded the payloads (energy::parse, {:.2} ms a tick): ranks {:.1}x, views {:.1}x",
        decoding.as_secs_f64() * 1000.0 / ticks.len() as f64,
        ratio(ours.ranks_total, theirs.ranks_total + decoding),
        ratio(ours.views_total, theirs.views_total + decoding),
    );
    println!(
        "CPU: cultfit {:.3} s on one thread (all of it in the ticks); redis-server {}, plus this client's side of the {:.3} s wall",
        ours.views_total.as_secs_f64(),
        redis_cpu.map_or("unknown".to_owned(), |cpu| format!("{cpu:.3} s")),
        theirs.views_total.as_secs_f64(),
    );
    let (slots, roster, named) = frame_bytes(&board);
    let each = |bytes: usize| bytes as f64 / participants as f64;
    println!(
        "live subject at {participants} participants: {slots} B a tick ({:.1} B each); the roster once, {roster} B ({:.1} B each); names in every frame (before) {named} B a tick ({:.1} B each)",
        each(slots),
        each(roster),
        each(named),
    );
    if ours.check == 0 || ours.check != theirs.check || ours.neighbours != theirs.neighbours {
        bail!(
            "the sides disagree: places and top score {} against {}, neighbours {} against {}",
            ours.check,
            theirs.check,
            ours.neighbours,
            theirs.neighbours
        );
    }
    Ok(())
}
