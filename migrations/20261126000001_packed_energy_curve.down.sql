-- Curves written packed are lost going down.
ALTER TABLE results DROP COLUMN energy_curve_packed;
