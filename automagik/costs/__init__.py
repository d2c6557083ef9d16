"""What runs cost: pricing the tokens a run used, and flows' daily budgets."""
