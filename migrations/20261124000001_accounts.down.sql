DROP TABLE refresh_tokens;
DROP TABLE users;
DROP TYPE user_sex;
DROP TYPE user_role;
