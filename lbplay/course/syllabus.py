"""What the course teaches, named once: the explainer's topics, its self-check list,
the misconceptions lessons correct (REFERENCE.md's numbers) and the places where the
explainer itself is wrong.

Lessons and quiz questions tag themselves with these keys; ``lbplay lessons check``
refuses a tag that is not here, and a test checks every misconception is corrected
by at least one lesson.
"""

from __future__ import annotations

#: The explainer's topics (its headings), by the key lessons use.
SYLLABUS: dict[str, str] = {
    "what": "What is load balancing, and why",
    "round-robin": "Round robin",
    "weighted-round-robin": "Weighted round robin",
    "least-connections": "Least connections",
    "weighted-least-connections": "Weighted least connections",
    "least-response-time": "Least response time",
    "ip-hash": "IP hash (and consistent hashing)",
    "least-bandwidth": "Least bandwidth",
    "l4-l7": "Layer 4 vs Layer 7",
    "health-checks": "Health checks and failover",
    "sessions": "Session persistence (sticky sessions)",
    "real-systems": "Real systems using load balancing",
    "alb-case": "Case study: AWS Application Load Balancer",
    "nginx-case": "Case study: nginx load balancer",
    "when-to-use": "When to use load balancing (and when not)",
    "interview": "The interview question",
}

#: The explainer's "Quick self-check", numbered.
SELF_CHECK: dict[int, str] = {
    1: "Can explain load balancing in 60 seconds",
    2: "Know the difference between Layer 4 and Layer 7 load balancing",
    3: "Understand 3+ load balancing algorithms and their trade-offs",
    4: "Can explain health checks and failover mechanisms",
    5: "Know when to use sticky sessions vs a shared session store",
    6: "Can design a load balancing solution for given requirements",
}

#: Misconceptions the lessons correct (REFERENCE.md, "Misconceptions lessons should
#: correct"), by number.
MISCONCEPTIONS: dict[int, str] = {
    1: "hash(key) % N is not consistent hashing: changing N moves most keys",
    2: "consistent hashing is not balanced by itself: it needs virtual nodes, bounded loads",
    3: "round robin equalises request counts, not load",
    4: "weighted round robin need not send bursts (smooth WRR interleaves)",
    5: "least connections: fast failures draw traffic, herding, a recovered server flooded",
    6: "latency-aware balancing is fooled by fast errors",
    7: "sticky sessions are not high availability: the session dies with its server",
    8: "IP hash is not per user (NAT, /24)",
    9: "health checks take interval × threshold to notice; a shallow /health can lie",
    10: "'all unhealthy' may mean traffic to all (fail open, panic), not 503",
    11: "L4 balances connections, not requests",
    12: "retries multiply load; budgets and idempotency rules exist for that",
    13: "averages hide tails: look at p99",
    14: "a single load balancer is itself a single point of failure",
}

#: Where the explainer is wrong (REFERENCE.md, "Where the source text is wrong").
SOURCE_ERRORS: dict[int, str] = {
    1: "it calls IP hash consistent hashing and writes hash(client_ip) % num_servers",
    2: "its weighted least connections example picks the highest score",
    3: "'Layer 7 adds 5-10 ms': a good L7 proxy adds a fraction of a millisecond",
    4: "'least response time requires active health checks': it uses real traffic",
    5: "'session replication' is a shared session store, not replication",
    6: "'keepalive 32' is the idle upstream connection pool, not a health check",
    7: "least_conn with weights is weighted least connections",
}
