DROP TABLE registrations;
DROP TYPE registration_status;
DROP TABLE workouts;
DROP TYPE workout_state;
