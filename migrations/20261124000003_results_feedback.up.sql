-- What a trainee gets after a workout ends. Written once per workout in one batched, idempotent
-- upsert; the body metrics used for calories are stored so old results never change.
CREATE TABLE results (
    workout_id           uuid NOT NULL REFERENCES workouts (id) ON DELETE CASCADE,
    trainee_id           uuid NOT NULL REFERENCES users (id),
    rank                 integer NOT NULL CHECK (rank >= 1),
    energy               bigint NOT NULL CHECK (energy >= 0),
    calories             real NOT NULL CHECK (calories >= 0),
    active_seconds       integer NOT NULL CHECK (active_seconds >= 0),
    -- Average rating (0..100) of each minute of the session.
    per_minute_rating    real[] NOT NULL DEFAULT '{}',
    -- Cumulative energy at each second since the start (the curve apps draw).
    energy_curve         integer[] NOT NULL DEFAULT '{}',
    -- {weight_kg, age, sex, method: "keytel" | "met"}
    body_metrics         jsonb NOT NULL,
    computed_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workout_id, trainee_id)
);

CREATE INDEX results_trainee_idx ON results (trainee_id, computed_at DESC);

-- One feedback per participant per workout; a second submission replaces the first.
CREATE TABLE feedback (
    workout_id  uuid NOT NULL REFERENCES workouts (id) ON DELETE CASCADE,
    trainee_id  uuid NOT NULL REFERENCES users (id),
    rating      smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    comment     text CHECK (char_length(comment) <= 2000),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workout_id, trainee_id)
);

-- Domain events persisted in the same transaction as the change they describe, then published on
-- NATS by a relay (transactional outbox), so a brief NATS outage loses nothing.
CREATE TABLE outbox (
    id            bigserial PRIMARY KEY,
    subject       text NOT NULL,
    payload       jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);

CREATE INDEX outbox_unpublished_idx ON outbox (id) WHERE published_at IS NULL;
