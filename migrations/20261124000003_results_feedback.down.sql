DROP TABLE outbox;
DROP TABLE feedback;
DROP TABLE results;
