"""Adversarial losses by name (:data:`gankit.registry.LOSSES`), penalties and reconstruction losses.

An adversarial loss is a class built from the model config (it reads the fields it needs) with::

    d_loss(real_logits, fake_logits) -> scalar   # what the discriminator minimises
    g_loss(fake_logits) -> scalar                # what the generator minimises
"""
