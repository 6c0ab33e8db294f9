"""The GAN family's config checks; its modules are genbench/modules/gan.py, bgan.py and infogan.py."""
