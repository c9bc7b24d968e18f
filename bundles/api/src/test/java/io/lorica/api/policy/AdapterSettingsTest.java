package io.lorica.api.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lorica.api.Component;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import org.junit.jupiter.api.Test;

class AdapterSettingsTest {

    @Test
    void none_hasNoAdaptersScaleOneAndIsEnabled() {
        AdapterSettings none = AdapterSettings.none();
        assertTrue(none.adapters().isEmpty());
        assertEquals(1.0, none.callScale());
        assertTrue(none.enabled());
        assertFalse(none.isEffective());
    }

    @Test
    void of_whenWeightsNull_givesEveryAdapterWeightOne_inOrder() {
        AdapterSettings settings = AdapterSettings.of(List.of("style", "toy", "detail"), (List<AdapterWeight>) null);
        assertEquals(List.of("style", "toy", "detail"), settings.names());
        assertEquals(Optional.of(AdapterWeight.ONE), settings.weight("toy"));
        assertEquals(Optional.empty(), settings.weight("other"));
        assertTrue(settings.isEffective());
    }

    @Test
    void of_whenLengthsDiffer_rejectsWithDiffusersMessage() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> AdapterSettings.of(List.of("a", "b"), List.of(AdapterWeight.of(0.3))));
        assertEquals("Length of adapter names 2 is not equal to the length of the weights 1", e.getMessage());
    }

    @Test
    void of_whenNameRepeats_rejectsNamingIt() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> AdapterSettings.of(List.of("a", "a"), (List<AdapterWeight>) null));
        assertEquals("adapter name 'a' is listed twice in [a, a], expected distinct names", e.getMessage());
    }

    @Test
    void of_sharedComponentDict_appliesToEveryAdapter() {
        AdapterWeight dict = new AdapterWeight.PerComponent(Map.of(Component.UNET, AdapterWeight.of(0.2)));
        AdapterSettings settings = AdapterSettings.of(List.of("a", "b"), dict);
        assertEquals(Optional.of(dict), settings.weight("a"));
        assertEquals(Optional.of(dict), settings.weight("b"));
    }

    @Test
    void settings_whenNameInvalidOrWeightNullOrScaleNotFinite_rejects() {
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> new AdapterSettings(Map.of("bad name", AdapterWeight.ONE), 1.0, true)).getMessage()
                .startsWith("adapter name 'bad name' is not a valid adapter name"));
        Map<String, AdapterWeight> nullWeight = new LinkedHashMap<>();
        nullWeight.put("toy", null);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new AdapterSettings(nullWeight, 1.0, true))
                .getMessage().startsWith("weight of adapter 'toy' must not be null"));
        assertEquals("callScale must be a finite number, got NaN", assertThrows(IllegalArgumentException.class,
                () -> AdapterSettings.none().withCallScale(Double.NaN)).getMessage());
    }

    @Test
    void withers_returnNewSnapshots_andLeaveOriginalUnchanged() {
        Map<String, AdapterWeight> map = new LinkedHashMap<>();
        map.put("a", AdapterWeight.of(0.3));
        map.put("b", AdapterWeight.of(0.7));
        AdapterSettings settings = new AdapterSettings(map, 1.0, true);
        map.clear();
        AdapterSettings changed = settings.withCallScale(0.0).withEnabled(false).without(List.of("a"));
        assertEquals(List.of("a", "b"), settings.names());
        assertEquals(List.of("b"), changed.names());
        assertEquals(0.0, changed.callScale());
        assertFalse(changed.enabled());
        assertFalse(changed.isEffective());
        assertEquals(List.of("c"), settings.withAdapters(Map.of("c", AdapterWeight.ONE)).names());
        assertThrows(UnsupportedOperationException.class, () -> settings.adapters().remove("a"));
    }
}
