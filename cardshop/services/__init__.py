"""Domain services: the rules of orders, holds, commissions, withdrawals, upstream."""
