DROP TABLE IF EXISTS send_budget;
