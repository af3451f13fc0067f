"""Run the test suite's OpenAI-compatible fake as a process, for benchmarks.

python -m benchmarks.upstream --port 8100 --ttft 0.2 --delay 0.02 --tokens 100
"""

import argparse
import threading

from tests.fake_upstream import FakeUpstream, Reply


def token(i: int) -> str:
    """Markdown as models write it: a bold word now and then, a paragraph every 25
    tokens, so that rendering the closed blocks while streaming is measured too."""
    word = f"**tok{i}** " if i % 10 == 5 else f"tok{i} "
    return word + ("\n\n" if i % 25 == 24 else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ttft", type=float, default=0.2, help="seconds to the first token")
    parser.add_argument("--delay", type=float, default=0.02, help="seconds between tokens")
    parser.add_argument("--tokens", type=int, default=100)
    args = parser.parse_args()
    fake = FakeUpstream(port=args.port)
    fake.default = Reply(
        tokens=[token(i) for i in range(args.tokens)],
        first_token_delay=args.ttft,
        token_delay=args.delay,
    )
    fake.keep_requests = False
    fake.start()
    print(fake.url, flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
