"""Print AlexNet as the lecture's table, and where the table and the arithmetic disagree
(C1: 224x224 with 11x11 stride 4 SAME gives 56x56, not 55x55; the paper's 55 needs 227x227).

Lecture question: how big is each AlexNet layer, where do its 60 million parameters live?

    python demos/alexnet_table.py --out figs/alexnet
"""

import json

from _common import out_dir, parse


def main(argv=None):
    args = parse(__doc__, argv)
    folder = out_dir(args, "alexnet_table")

    from cnnsim import geometry
    from cnnsim.models.summary import describe, format_table

    # the 55/56 arithmetic, straight from cnnsim.geometry
    print("C1 output size:")
    print(
        f"  224x224, 11x11 stride 4, SAME : ceil(224 / 4)            = "
        f"{geometry.output_size(224, 11, 4, 'same')}"
    )
    print(
        f"  227x227, 11x11 stride 4, VALID: floor((227 - 11) / 4) + 1 = "
        f"{geometry.output_size(227, 11, 4, 'valid')}"
    )
    print(
        f"  224x224, 11x11 stride 4, VALID: floor((224 - 11) / 4) + 1 = "
        f"{geometry.output_size(224, 11, 4, 'valid')}  (and column 223 is never read)"
    )

    variants = ["lecture"] if args.quick else ["lecture", "paper"]
    for variant in variants:
        data = describe("alexnet", variant=variant)  # built without drawing weights
        text = format_table(data)
        print()
        print(text)
        (folder / f"alexnet_{variant}.txt").write_text(text + "\n")
        (folder / f"alexnet_{variant}.json").write_text(json.dumps(data, indent=1))
        biggest = max(
            (r for r in data["layers"] if "/" not in r["name"]), key=lambda r: r["params"]
        )
        share = biggest["params"] / data["total_params"]
        print(
            f"\nlargest layer: {biggest['name']} with {biggest['params']:,} parameters "
            f"({share:.0%} of all)"
        )
        print(f"wrote {folder / f'alexnet_{variant}.txt'} and .json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
