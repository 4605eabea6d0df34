#!/usr/bin/env bash
# Fashion-MNIST comes from Debian's package `dataset-fashion-mnist`, which installs the four
# gz files in /usr/share/datasets/fashion-mnist/. Install it when we can (root + apt-get);
# otherwise say how, and go on: MNIST-only jobs do not need it.
set -u
dir=/usr/share/datasets/fashion-mnist
[ -f "$dir/train-images-idx3-ubyte.gz" ] && exit 0
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing Debian's dataset-fashion-mnist (Fashion-MNIST raw files)"
  apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1; } \
    || echo "warning: could not install dataset-fashion-mnist; Fashion-MNIST will be unavailable"
else
  echo "note: Fashion-MNIST needs 'sudo apt-get install dataset-fashion-mnist' (or GMGAN_DATA_MIRROR)"
fi
exit 0
