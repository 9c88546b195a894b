-- A result's per-second energy curve, packed (cultfit_actors::live::curve: a varint per second,
-- ≈ 1 byte where integer[] takes 4 plus array overhead), so ending an hour-long session of
-- 10 000 does not build 36 M array elements. Already compact, so PostgreSQL stores it without
-- trying to compress it. Results written before keep their curve in energy_curve; new ones leave
-- that empty.
ALTER TABLE results ADD COLUMN energy_curve_packed bytea;
ALTER TABLE results ALTER COLUMN energy_curve_packed SET STORAGE EXTERNAL;
