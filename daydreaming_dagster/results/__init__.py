"""Result tables computed from a cohort's generations."""
