-- Accounts: trainees and trainers share one table; the role decides what they may do.
CREATE TYPE user_role AS ENUM ('trainee', 'trainer');
CREATE TYPE user_sex AS ENUM ('female', 'male');

CREATE TABLE users (
    id                    uuid PRIMARY KEY,
    role                  user_role NOT NULL,
    full_name             text NOT NULL CHECK (char_length(full_name) BETWEEN 1 AND 100),
    -- Stored as typed; uniqueness and login compare lower(email).
    email                 text NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
    mobile                text NOT NULL,
    password_hash         text NOT NULL,
    -- Profile used for calorie estimates; unknown until the user fills it in.
    weight_kg             real CHECK (weight_kg BETWEEN 20 AND 400),
    birth_year            integer CHECK (birth_year BETWEEN 1900 AND 2100),
    sex                   user_sex,
    hide_from_leaderboard boolean NOT NULL DEFAULT false,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

-- Opaque refresh tokens, stored as SHA-256 digests. Every login starts a family; each refresh
-- rotates within it. Presenting a token that was already rotated revokes the whole family.
CREATE TABLE refresh_tokens (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id   uuid NOT NULL,
    token_hash  bytea NOT NULL UNIQUE,
    issued_at   timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    rotated_at  timestamptz,
    revoked_at  timestamptz
);

CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);
