-- Workouts (sessions) and who takes part. The owning WorkoutActor is the single writer of a
-- workout and its registrations; `version` guards every state transition (optimistic).
CREATE TYPE workout_state AS ENUM ('scheduled', 'live', 'ended', 'cancelled');

CREATE TABLE workouts (
    id               uuid PRIMARY KEY,
    workout_type     text NOT NULL,
    title            text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    description      text NOT NULL DEFAULT '' CHECK (char_length(description) <= 5000),
    trainer_id       uuid NOT NULL REFERENCES users (id),
    starts_at        timestamptz NOT NULL,
    duration_minutes integer NOT NULL CHECK (duration_minutes BETWEEN 5 AND 240),
    capacity         integer NOT NULL CHECK (capacity BETWEEN 1 AND 100000),
    state            workout_state NOT NULL DEFAULT 'scheduled',
    started_at       timestamptz,
    ended_at         timestamptz,
    cancelled_at     timestamptz,
    cancel_reason    text CHECK (char_length(cancel_reason) <= 500),
    version          bigint NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- "Upcoming" listing: scheduled or live, soonest first.
CREATE INDEX workouts_upcoming_idx ON workouts (starts_at, id) WHERE state IN ('scheduled', 'live');
CREATE INDEX workouts_trainer_idx ON workouts (trainer_id, starts_at);

CREATE TYPE registration_status AS ENUM ('booked', 'waitlisted', 'cancelled');

CREATE TABLE registrations (
    workout_id        uuid NOT NULL REFERENCES workouts (id) ON DELETE CASCADE,
    trainee_id        uuid NOT NULL REFERENCES users (id),
    status            registration_status NOT NULL,
    -- 1-based FIFO position, set only while waitlisted.
    waitlist_position integer CHECK (waitlist_position >= 1),
    registered_at     timestamptz NOT NULL DEFAULT now(),
    cancelled_at      timestamptz,
    joined_at         timestamptz,
    left_at           timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workout_id, trainee_id),
    CHECK ((status = 'waitlisted') = (waitlist_position IS NOT NULL)),
    -- Positions are NULL unless waitlisted, so only waitlisted rows compete. Deferred, because
    -- a promotion moves every position up by one in a single statement.
    CONSTRAINT registrations_waitlist_position_key
        UNIQUE (workout_id, waitlist_position) DEFERRABLE INITIALLY DEFERRED
);

CREATE INDEX registrations_trainee_idx ON registrations (trainee_id);
